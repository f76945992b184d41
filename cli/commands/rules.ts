/**
 * `kiot rules check [paths...]`: validates rule files (`*.sql` with CREATE RULE, and
 * `<name>.rule.json`) without running them. Prints each problem as `file:line:column: message`
 * and exits 1 when there is any.
 */
import type { Command } from 'commander';
import { checkRules, formatProblem } from '../../rules/files/index.js';
import { processIo, type CliIo } from './sql.js';

/** The rules directory `kiot up` reads by default (DESIGN.md, `--rules-dir`). */
export const DEFAULT_RULES_DIR = './rules';

/** Adds `kiot rules ...` to the program. */
export function register(program: Command, io: CliIo = processIo): void {
  const rules = program.command('rules').description('work with rule files (*.sql with CREATE RULE, <name>.rule.json)');
  rules
    .command('check')
    .description(
      'check rule files without running them: syntax, unknown functions, unknown actions or parameters, bad substitution ' +
        'templates. Prints file:line:column: message per problem and exits 1 if there is any.',
    )
    .argument('[paths...]', `rule files or directories, searched for *.sql and *.rule.json (default: $KIOT_RULES_DIR, else ${DEFAULT_RULES_DIR}, as kiot up)`)
    .action(async (paths: string[]) => {
      const { rules: found, problems, files = 0 } = await checkRules(paths.length > 0 ? paths : [process.env['KIOT_RULES_DIR'] || DEFAULT_RULES_DIR]);
      for (const p of problems) io.stdout.write(`${formatProblem(p)}\n`);
      io.stderr.write(`checked ${found.length} rule${found.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}: ${problems.length === 0 ? 'no problems' : `${problems.length} problem${problems.length === 1 ? '' : 's'}`}\n`);
      if (problems.length > 0) io.setExitCode(1);
    });
}
