export {
  createElasticsearchDefinition,
  createOpenSearchDefinition,
  elasticsearchAction,
  opensearchAction,
  ELASTICSEARCH_MAX_BATCH_SIZE,
  type ElasticsearchConfig,
  type ElasticsearchSinkOptions,
} from './elasticsearch-sink.js';
