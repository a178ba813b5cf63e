import type { Pod } from '@sscsi/common';

import { SyncError } from './secret-data';
import { volumeOfClass } from './pod-volume';

const DRIVER = 'secrets-store.csi.k8s.io';
const pod: Pod = {
  metadata: { name: 'app', namespace: 'default', uid: 'uid-1' },
  spec: {
    volumes: [
      { name: 'secrets', csi: { driver: DRIVER, volumeAttributes: { secretProviderClass: 'db' } } },
      { name: 'other', csi: { driver: DRIVER, volumeAttributes: { secretProviderClass: 'tls' } } },
      {
        name: 'foreign',
        csi: { driver: 'other.csi.example', volumeAttributes: { secretProviderClass: 'db' } },
      },
      { name: 'plain' },
    ],
  },
};
const target = (uid: string, volume: string) =>
  `/var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~csi/${volume}/mount`;

describe('volumeOfClass', () => {
  it("names the pod's volume of the class", () => {
    expect(volumeOfClass(pod, target('uid-1', 'secrets'), DRIVER, 'db')).toBe('secrets');
    expect(volumeOfClass(pod, target('uid-1', 'other'), DRIVER, 'tls')).toBe('other');
  });

  it.each([
    [
      'a volume of another class',
      target('uid-1', 'other'),
      /volume other of pod default\/app, which is not a volume of class db/,
    ],
    ['a volume of another driver', target('uid-1', 'foreign'), /volume foreign .* not a volume of class db/],
    ['a volume that is not CSI', target('uid-1', 'plain'), /volume plain .* not a volume of class db/],
    ['a volume the pod does not have', target('uid-1', 'nope'), /volume nope .* not a volume of class db/],
    ["another pod's volume", target('uid-2', 'secrets'), /not a volume of pod default\/app/],
    ['a path that is not a volume', '/etc', /not a volume of pod default\/app/],
    ['a relative path', target('uid-1', 'secrets').slice(1), /not a volume of pod/],
    ['a path with ..', `/x/../${target('uid-1', 'secrets')}`, /not a volume of pod/],
  ])('refuses %s', (_name, targetPath, message) => {
    expect(() => volumeOfClass(pod, targetPath, DRIVER, 'db')).toThrow(SyncError);
    expect(() => volumeOfClass(pod, targetPath, DRIVER, 'db')).toThrow(message);
  });
});
