export { createLocationDefinition, locationAction, type LocationConfig } from './location.js';
