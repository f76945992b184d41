export { createIotSiteWiseDefinition, iotSiteWiseAction, type IotSiteWiseConfig } from './iot-site-wise.js';
