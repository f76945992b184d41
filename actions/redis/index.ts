export { createRedisDefinition, loadRedis, redisAction, redisCommand, REDIS_COMMANDS, REDIS_MAX_BATCH_SIZE, DEFAULT_REDIS_TIMEOUT_MS, type RedisConfig, type RedisSinkOptions } from './redis.js';
