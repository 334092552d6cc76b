import type { BatchUploadDetails } from '../../shared/partner-center/model.js';

/**
 * The docs' example answer of `GET /v1/customers/{customer-id}/batchJobStatus/{batchtracking-id}`,
 * to the byte (the docs' field order). Written here on purpose rather than imported from the
 * simulator, which serves it: a test compared with the simulator's own constant could not see a
 * simulator bug.
 */
export const DOCS_EXAMPLE_TEXT =
  '{"batchTrackingId":"0127ed8e-ff72-4983-a3d8-e8d8bd378932","status":"finished","startedTime":"2017-07-25T10:00:00","completedTime":"2017-07-25T10:10:00","devicesStatus":[{"serialNumber":"1234567890","productKey":"12345-67890-09876-54321-13579","status":"finished_with_errors","errorCode":"808","errorDescription":"ZtdDeviceAssignedToOtherTenant","attributes":{"objectType":"DeviceUploadDetails"}}],"attributes":{"objectType":"BatchUploadDetails"}}';

/** {@link DOCS_EXAMPLE_TEXT}, parsed. */
export const DOCS_EXAMPLE_BODY = JSON.parse(DOCS_EXAMPLE_TEXT) as BatchUploadDetails;
