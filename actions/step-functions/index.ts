export { createStepFunctionsDefinition, stepFunctionsAction, type StepFunctionsConfig } from './step-functions.js';
