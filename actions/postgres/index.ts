export { createPostgresDefinition, loadPg, postgresAction, POSTGRES_MAX_BATCH_SIZE, DEFAULT_POSTGRES_TIMEOUT_MS, type PostgresConfig, type PostgresOptions } from './postgres.js';
