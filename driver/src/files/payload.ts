// Only for driver/src/sync/secret-data.ts, which still imports the payload path check from here: the
// check itself lives in @sscsi/common. Remove this file once that import names '@sscsi/common'.
export { PayloadError, validatePayloadPath } from '@sscsi/common';
