import { parseListenAddress } from './http-endpoint';

describe('parseListenAddress', () => {
  it.each([
    [':8095', { host: undefined, port: 8095 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
  ])('reads %s', (addr, want) => {
    expect(parseListenAddress(addr)).toEqual(want);
  });

  it.each(['8095', 'host', ':70000', ':-1'])('refuses %s', (addr) => {
    expect(() => parseListenAddress(addr)).toThrow(`invalid listen address "${addr}"`);
  });
});
