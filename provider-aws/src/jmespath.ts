// JMESPath, typed for what we use (@types/jmespath lacks compile).
import library from 'jmespath';

const jmes = library as unknown as {
  compile(expression: string): unknown;
  search(data: unknown, expression: string): unknown;
};

/** Throws when `expression` is not valid JMESPath. */
export function checkExpression(expression: string): void {
  jmes.compile(expression);
}

export function search(data: unknown, expression: string): unknown {
  return jmes.search(data, expression);
}
