/**
 * `$(VAR)` expansion, as upstream's third_party/forked/golang/expansion: `$(NAME)` is replaced
 * through a mapping, `$$` is an escaped `$`, an unknown reference is kept as written. Used for
 * env values (against the variables before them and the service links), command and args
 * (against the final environment) and exec probes (against the spec's literal env values only,
 * upstream ExpandContainerCommandOnlyStatic). Pure.
 */

/** A mapping that leaves unknown references as they were written, `$(NAME)`. */
export function mappingFuncFor(...contexts: ReadonlyArray<Readonly<Record<string, string>>>): (name: string) => string {
  return (name) => {
    for (const vars of contexts) if (Object.hasOwn(vars, name)) return vars[name]!;
    return `$(${name})`;
  };
}

/**
 * upstream expansion.Expand: `$(NAME)` is replaced through `mapping`; `$$` is an escaped `$`;
 * a `$` not followed by `(` or `$`, and an unclosed `$(`, are kept as written.
 */
export function expand(input: string, mapping: (name: string) => string): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let advance = 1;
    if (rest[0] === '$') {
      out += '$';
    } else if (rest[0] === '(') {
      const close = rest.indexOf(')', 1);
      if (close >= 1) {
        out += mapping(rest.slice(1, close));
        advance = close + 1;
      } else {
        out += '$(';
      }
    } else {
      out += `$${rest[0]}`;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/**
 * upstream ExpandContainerCommandOnlyStatic (exec probes): `$(VAR)` against the container's env
 * values as written in the spec (a valueFrom one is empty), nothing else.
 */
export function expandCommandOnlyStatic(
  command: readonly string[],
  env: readonly { name: string; value?: string }[] | undefined,
): string[] {
  const vars: Record<string, string> = {};
  for (const e of env ?? []) vars[e.name] = e.value ?? '';
  const mapping = mappingFuncFor(vars);
  return command.map((c) => expand(c, mapping));
}
