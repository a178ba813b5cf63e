import type { ProviderFailure } from '@sscsi/common';
import { ProviderCallError, Status } from '@sscsi/common';

import { DriverError, driverErrorOfProviderCall } from './errors';

describe('driverErrorOfProviderCall', () => {
  it.each<[ProviderFailure, Status | undefined, string | undefined, string, Status, string]>([
    [
      'InvalidProviderName',
      undefined,
      undefined,
      'FailedToLookupProviderGRPCClient',
      Status.INVALID_ARGUMENT,
      'FailedToLookupProviderGRPCClient',
    ],
    [
      'ProviderNotFound',
      undefined,
      undefined,
      'FailedToLookupProviderGRPCClient',
      Status.UNAVAILABLE,
      'FailedToLookupProviderGRPCClient',
    ],
    [
      'CallFailed',
      Status.PERMISSION_DENIED,
      undefined,
      'GRPCProviderError',
      Status.PERMISSION_DENIED,
      'GRPCProviderError',
    ],
    ['CallFailed', undefined, undefined, 'GRPCProviderError', Status.UNAVAILABLE, 'GRPCProviderError'],
    ['ProviderError', undefined, 'AccessDenied', 'ProviderError', Status.INTERNAL, 'AccessDenied'],
    ['NoObjectVersions', undefined, undefined, 'GRPCProviderError', Status.INTERNAL, 'GRPCProviderError'],
  ])(
    '%s (code %s, provider code %s) is the driver reason %s with code %s and error_type %s, same message',
    (failure, code, providerCode, reason, wantCode, errorType) => {
      const err = driverErrorOfProviderCall(
        new ProviderCallError(failure, 'provider "aws" said no', { code, providerCode }),
      );
      expect(err).toBeInstanceOf(DriverError);
      expect(err).toMatchObject({ reason, code: wantCode, errorType, message: 'provider "aws" said no' });
    },
  );

  it('leaves any other failure as it is', () => {
    const other = new Error('boom');
    expect(driverErrorOfProviderCall(other)).toBe(other);
  });
});
