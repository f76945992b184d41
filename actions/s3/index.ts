export { createS3Definition, createS3Api, s3Action, S3_CANNED_ACLS, type S3Config, type S3Api, type S3SinkOptions } from './s3-sink.js';
