// The command system's errors: the error contract of the device queue port.

/**
 * What the device queue port (DeviceQueueApi) throws: the implementation says whether trying again later
 * can help (the network server was unreachable or busy) or not (it refused the request, or answered with
 * something unreadable). The dispatcher retries or fails a command by this flag alone; any other error
 * (a dropped socket in code the port does not wrap) is taken as worth a retry.
 */
export abstract class DeviceQueueError extends Error {
  override name = 'DeviceQueueError';
  abstract readonly retryable: boolean;
}
