// For unit tests: the error a piece of work fails with, checked to be of the class the test expects
// (the test fails when the work succeeds, or fails with something else).
type ErrorClass<E> = abstract new (...args: never[]) => E;

export function thrownBy<E>(run: () => unknown, errorClass: ErrorClass<E>): E {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(errorClass);
  return caught as E;
}

export async function rejectionOf<E>(work: Promise<unknown>, errorClass: ErrorClass<E>): Promise<E> {
  const caught = await work.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(caught).toBeInstanceOf(errorClass);
  return caught as E;
}
