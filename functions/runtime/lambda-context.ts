// The parts of a Lambda context the handlers read, for invoking them in-process (local runtime, tests).
import { randomBytes } from 'node:crypto';
import type { Context } from 'aws-lambda';

export function lambdaContext(functionName = 'local'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomBytes(8).toString('hex'),
    logGroupName: functionName,
    logStreamName: functionName,
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
