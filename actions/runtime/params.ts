/**
 * Config schemas for action parameters. Rule files and TopicRulePayloads give an action's
 * parameters in snake_case; the schema rejects unknown ones, names missing ones and says
 * which value is wrong, so `kiot rules check` can point at the parameter in the file.
 * String fields may hold substitution templates (`${...}`): they are validated as templates
 * by the rules side and rendered per message before the sink sees them.
 */
import { z } from 'zod';
import { PlatformError, type ParamsSchema } from '../../core/index.js';

export type { ParamsSchema };

/** One problem with one parameter (`param` undefined when it is about the whole action). */
export interface ParamProblem {
  readonly param: string | undefined;
  readonly message: string;
}

/**
 * Builds a schema over a zod shape. `parse` throws PlatformError CONFIG_INVALID whose
 * `details.problems` is a ParamProblem[] (first problem in the message).
 */
export function paramsSchema<S extends z.ZodRawShape>(shape: S): ParamsSchema<z.infer<z.ZodObject<S>>> {
  const schema = z.strictObject(shape);
  const params = Object.keys(shape);
  const required = params.filter((p) => !(shape[p] as unknown as z.ZodType).safeParse(undefined).success);
  return {
    params,
    required,
    parse(raw: unknown) {
      const result = schema.safeParse(raw ?? {});
      if (result.success) return result.data;
      throw paramsError(result.error.issues, params);
    },
  };
}

function paramsError(issues: readonly z.core.$ZodIssue[], known: readonly string[]): PlatformError {
  const problems: ParamProblem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push({ param: key, message: `unknown parameter ${key} (known: ${known.join(', ')})` });
      continue;
    }
    const param = typeof issue.path[0] === 'string' ? issue.path[0] : undefined;
    const rest = issue.path.slice(1).map(String).join('.');
    const where = param === undefined ? '' : rest ? `${param}.${rest}: ` : `${param}: `;
    if (issue.code === 'invalid_type' && issue.path.length === 1 && /received undefined/.test(issue.message)) {
      problems.push({ param, message: `missing parameter ${param}` });
    } else {
      problems.push({ param, message: `${where}${issue.message.replace(/^Invalid input: /, '')}` });
    }
  }
  return new PlatformError('CONFIG_INVALID', problems.map((p) => p.message).join('; '), { details: { problems } });
}

/** The problems of a CONFIG_INVALID thrown by a ParamsSchema, or one problem for any other error. */
export function paramProblems(err: unknown): ParamProblem[] {
  if (err instanceof PlatformError && Array.isArray(err.details['problems'])) return err.details['problems'] as ParamProblem[];
  const issues = (err as { issues?: { path?: unknown[]; message?: string }[] } | undefined)?.issues;
  if (Array.isArray(issues)) {
    return issues.map((i) => {
      const param = typeof i.path?.[0] === 'string' ? i.path[0] : undefined;
      return { param, message: `${param ? `${param}: ` : ''}${i.message ?? 'invalid'}` };
    });
  }
  return [{ param: undefined, message: err instanceof Error ? err.message : String(err) }];
}

/** AWS's `[{"key": "...", "value": "..."}]` header lists (republish user properties, kafka, http). */
export const keyValueList = z.array(z.strictObject({ key: z.string(), value: z.string() }));

/** A string that holds an integer once rendered, or the integer itself. */
export const intOrTemplate = z.union([z.number().int(), z.string()]);

/** A string parameter that must not be a substitution template (connection settings, statements). */
export const constantString = (what: string) => z.string().refine((s) => !s.includes('${'), `${what} cannot be a substitution template`);

/**
 * A ParamsSchema over `schema` plus checks that span parameters (`check` reports each problem
 * with the parameter it is about); both kinds of problem end up in one CONFIG_INVALID.
 */
export function crossChecked<T>(schema: ParamsSchema<T>, check: (params: T, problem: (param: string | undefined, message: string) => void) => void): ParamsSchema<T> {
  return {
    params: schema.params,
    required: schema.required,
    parse(raw: unknown) {
      const parsed = schema.parse(raw);
      const problems: ParamProblem[] = [];
      check(parsed, (param, message) => problems.push({ param, message }));
      if (problems.length > 0) throw new PlatformError('CONFIG_INVALID', problems.map((p) => p.message).join('; '), { details: { problems } });
      return parsed;
    },
  };
}
