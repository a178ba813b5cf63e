// For unit tests: the MountError a piece of work fails with (the test fails when it succeeds or
// fails otherwise).
import { MountError } from '../errors';

export async function mountErrorOf(work: Promise<unknown>): Promise<MountError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MountError);
  return err as MountError;
}
