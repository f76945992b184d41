export { createSnsDefinition, snsAction, type SnsConfig } from './sns.js';
