import { describe, expect, test } from 'vitest';
import { splitBasicIngest } from './topic-filter-index.js';

describe('splitBasicIngest', () => {
  test('Basic Ingest topics name their rule', () => {
    expect(splitBasicIngest('$aws/rules/BuildingManager/Buildings/Building5')).toEqual({ ruleName: 'BuildingManager', topic: 'Buildings/Building5' });
    expect(splitBasicIngest('a/b')).toBeUndefined();
  });
});
