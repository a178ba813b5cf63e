import { thrownBy } from '@sscsi/common/testing';

import { MountError } from '../errors';
import { parseAssumeRole } from './assume-role';
import { parseMountRequest } from './mount-request';

const ROLE = 'arn:aws:iam::444455556666:role/secrets-reader';

describe('parseAssumeRole: the role a class chains the pod into', () => {
  it.each<[string, Record<string, string>, ReturnType<typeof parseAssumeRole>]>([
    ['no assumeRoleArn', {}, undefined],
    ['an empty assumeRoleArn', { assumeRoleArn: '' }, undefined],
    [
      'a role alone',
      { assumeRoleArn: ROLE },
      { roleArn: ROLE, externalId: undefined, durationSeconds: undefined },
    ],
    [
      'a role with a path, in another partition',
      { assumeRoleArn: 'arn:aws-cn:iam::444455556666:role/team/a/reader' },
      {
        roleArn: 'arn:aws-cn:iam::444455556666:role/team/a/reader',
        externalId: undefined,
        durationSeconds: undefined,
      },
    ],
    [
      'an external ID and a duration in seconds',
      { assumeRoleArn: ROLE, assumeRoleExternalId: 'tenant-42:prod', assumeRoleSessionDuration: '900' },
      { roleArn: ROLE, externalId: 'tenant-42:prod', durationSeconds: 900 },
    ],
    [
      'a duration in minutes',
      { assumeRoleArn: ROLE, assumeRoleSessionDuration: '30m' },
      { roleArn: ROLE, externalId: undefined, durationSeconds: 1800 },
    ],
    [
      'a duration in hours',
      { assumeRoleArn: ROLE, assumeRoleSessionDuration: '1h' },
      { roleArn: ROLE, externalId: undefined, durationSeconds: 3600 },
    ],
    [
      "upstream PR #555's assumeRoleDurationSeconds",
      { assumeRoleArn: ROLE, assumeRoleDurationSeconds: '1200' },
      { roleArn: ROLE, externalId: undefined, durationSeconds: 1200 },
    ],
    [
      'both duration spellings, agreeing',
      { assumeRoleArn: ROLE, assumeRoleDurationSeconds: '1200', assumeRoleSessionDuration: '20m' },
      { roleArn: ROLE, externalId: undefined, durationSeconds: 1200 },
    ],
  ])('accepts %s', (_name, attributes, expected) => {
    expect(parseAssumeRole(attributes)).toEqual(expected);
  });

  it.each<[string, Record<string, string>, RegExp]>([
    [
      'a user ARN',
      { assumeRoleArn: 'arn:aws:iam::444455556666:user/bob' },
      /assumeRoleArn "arn:aws:iam::444455556666:user\/bob" is not an IAM role ARN/,
    ],
    ['a role name', { assumeRoleArn: 'secrets-reader' }, /is not an IAM role ARN such as arn:aws:iam::/],
    [
      'an ARN of another service',
      { assumeRoleArn: 'arn:aws:sts::444455556666:role/x' },
      /is not an IAM role ARN/,
    ],
    ['an ARN without account', { assumeRoleArn: 'arn:aws:iam:::role/x' }, /is not an IAM role ARN/],
    [
      'an ARN with a region',
      { assumeRoleArn: 'arn:aws:iam:us-east-1:444455556666:role/x' },
      /is not an IAM role ARN/,
    ],
    ['an ARN naming no role', { assumeRoleArn: 'arn:aws:iam::444455556666:role/' }, /is not an IAM role ARN/],
    [
      'an external ID without role',
      { assumeRoleExternalId: 'abc' },
      /^assumeRoleExternalId given without assumeRoleArn$/,
    ],
    [
      'a duration without role',
      { assumeRoleSessionDuration: '900' },
      /^assumeRoleSessionDuration given without assumeRoleArn$/,
    ],
    [
      'an external ID with a space',
      { assumeRoleArn: ROLE, assumeRoleExternalId: 'my id' },
      /assumeRoleExternalId must be 2 to 1224 letters, digits or any of/,
    ],
    [
      'a one-character external ID',
      { assumeRoleArn: ROLE, assumeRoleExternalId: 'x' },
      /assumeRoleExternalId must be 2 to 1224/,
    ],
    [
      'a duration that is not a number',
      { assumeRoleArn: ROLE, assumeRoleSessionDuration: 'an hour' },
      /assumeRoleSessionDuration must be a number of seconds or a duration such as 900, 15m or 1h, got "an hour"/,
    ],
    [
      'a duration below 15 minutes',
      { assumeRoleArn: ROLE, assumeRoleSessionDuration: '899' },
      /assumeRoleSessionDuration must be between 900 and 3600 seconds, got "899"/,
    ],
    [
      'a duration above the one hour of a chained session',
      { assumeRoleArn: ROLE, assumeRoleDurationSeconds: '2h' },
      /assumeRoleDurationSeconds must be between 900 and 3600 seconds, got "2h": .*STS limits a chained session to one hour/,
    ],
    [
      'two spellings of the duration that disagree',
      { assumeRoleArn: ROLE, assumeRoleSessionDuration: '900', assumeRoleDurationSeconds: '1800' },
      /assumeRoleSessionDuration \(900 s\) and assumeRoleDurationSeconds \(1800 s\) disagree/,
    ],
  ])('refuses %s, saying what is wrong', (_name, attributes, message) => {
    const caught = thrownBy(() => parseAssumeRole(attributes), MountError);
    expect(caught).toMatchObject({ reason: 'InvalidParameters', message: expect.stringMatching(message) });
  });

  it('does not echo the external ID it refuses', () => {
    expect(() => parseAssumeRole({ assumeRoleArn: ROLE, assumeRoleExternalId: 'secret tenant' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('secret tenant') }),
    );
  });

  it('is part of the parsed mount request, checked before any call', () => {
    const attributes = {
      'csi.storage.k8s.io/pod.name': 'app',
      'csi.storage.k8s.io/pod.namespace': 'default',
      'csi.storage.k8s.io/serviceAccount.name': 'sa',
      'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify({ 'sts.amazonaws.com': { token: 'a.b.c' } }),
      objects: '- {objectName: MyDBSecret, objectType: secretsmanager}',
      assumeRoleArn: ROLE,
      assumeRoleExternalId: 'tenant-42',
    };
    const req = (attrs: Record<string, string>) => ({
      attributes: JSON.stringify(attrs),
      secrets: 'null',
      targetPath: '/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/v/mount',
      permission: '420',
      currentObjectVersion: [],
    });
    expect(parseMountRequest(req(attributes)).assumeRole).toEqual({
      roleArn: ROLE,
      externalId: 'tenant-42',
      durationSeconds: undefined,
    });
    expect(() => parseMountRequest(req({ ...attributes, assumeRoleArn: 'reader' }))).toThrow(
      /assumeRoleArn "reader" is not an IAM role ARN/,
    );
  });
});
