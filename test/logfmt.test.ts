// The shim's logger: logrus text lines, pino's calling convention, levels, children, and values
// that JSON.stringify alone would throw on.
import * as assert from 'node:assert/strict';

import { LogfmtLogger } from '../lib/shim/logfmt';

function recorder(level = 'info'): { logger: LogfmtLogger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new LogfmtLogger((l) => lines.push(l), level, { pid: 42 }), lines };
}

const TIME = /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z" /;

describe('LogfmtLogger', () => {
  it('writes logrus text lines: time, level, msg, bindings, then fields', () => {
    const { logger, lines } = recorder();
    logger.info('server started');
    logger.warn({ topic: '/tasks/exit', n: 3, ok: true, gone: undefined }, 'failed to publish');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, TIME);
    assert.match(lines[0]!, / level=info msg="server started" pid=42\n$/);
    assert.match(
      lines[1]!,
      / level=warning msg="failed to publish" pid=42 topic=\/tasks\/exit n=3 ok=true\n$/,
    );
  });

  it('quotes values that are not a simple word and prints objects as JSON', () => {
    const { logger, lines } = recorder();
    logger.info({ detail: 'x y', spec: { a: [1, 2] }, empty: '' }, 'm');
    assert.match(lines[0]!, / detail="x y" spec="\{\\"a\\":\[1,2\]\}" empty=""\n$/);
  });

  it('logs an error as its message under err; an Error alone is err and the default msg', () => {
    const { logger, lines } = recorder();
    const err = Object.assign(new Error('boom now'), { code: 'ENOENT' });
    logger.error({ err, id: 'c1' }, 'failed');
    logger.error(err);
    logger.error(err, 'with message');
    assert.match(lines[0]!, / level=error msg="failed" pid=42 err="boom now" id=c1\n$/);
    assert.match(lines[1]!, / msg="boom now" pid=42 err="boom now"\n$/);
    assert.match(lines[2]!, / msg="with message" pid=42 err="boom now"\n$/);
  });

  it('formats printf-style arguments', () => {
    const { logger, lines } = recorder();
    logger.info('%s has %d', 'shim', 3);
    logger.info({ k: 1 }, 'n=%d', 7);
    assert.match(lines[0]!, / msg="shim has 3" /);
    assert.match(lines[1]!, / msg="n=7" pid=42 k=1\n$/);
  });

  it('never throws on bigint, cycles or deep objects', () => {
    const { logger, lines } = recorder();
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = {};
    const top = deep;
    for (let i = 0; i < 20; i++) deep = (deep.next = {}) as Record<string, unknown>;
    logger.info({ big: 2n ** 64n, cyclic, top }, 'odd values');
    assert.match(lines[0]!, / big=18446744073709551616 /);
    assert.match(lines[0]!, /cyclic="\{\\"name\\":\\"a\\",\\"self\\":\\"\[Circular\]\\"\}"/);
    assert.match(lines[0]!, /\[Object\]/);
  });

  it('filters by level; level can change; warning is an alias of warn; silent logs nothing', () => {
    const { logger, lines } = recorder('warn');
    logger.debug('no');
    logger.info('no');
    logger.warn('yes');
    assert.equal(lines.length, 1);
    assert.equal(logger.isLevelEnabled('info'), false);
    assert.equal(logger.isLevelEnabled('error'), true);
    logger.level = 'debug';
    assert.equal(logger.level, 'debug');
    logger.debug('now');
    logger.level = 'warning';
    assert.equal(logger.level, 'warn');
    logger.level = 'silent';
    logger.fatal('never');
    logger.silent('never');
    assert.equal(lines.length, 2);
    assert.equal(logger.isLevelEnabled('silent'), false);
  });

  it('rejects an unknown level with ERR_INVALID_LOG_LEVEL', () => {
    assert.throws(() => new LogfmtLogger(() => undefined, 'loud'), {
      code: 'ERR_INVALID_LOG_LEVEL',
    });
    const { logger } = recorder();
    assert.throws(() => (logger.level = 'verbose'), { code: 'ERR_INVALID_LOG_LEVEL' });
    assert.equal(logger.level, 'info');
  });

  it('child loggers add their bindings and start at the parent level', () => {
    const { logger, lines } = recorder('debug');
    const child = logger.child({ id: 'c1' }).child({ exec: 'e1' });
    assert.equal(child.level, 'debug');
    child.debug({ pid: 7 }, 'exec started');
    assert.match(lines[0]!, / msg="exec started" pid=42 id=c1 exec=e1 pid=7\n$/);
    child.level = 'error';
    logger.debug('parent unaffected');
    assert.equal(lines.length, 2);
  });
});
