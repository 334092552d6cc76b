import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { problemTypes } from '../../../shared/http/problem.js';
import { deviceErrorCatalogue } from '../../../shared/trackings/device-errors.js';

// The README is part of the interface: these keep it from drifting away from the code.
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const settingsSource = ['settings.ts', 'partner-center-settings.ts', 'notify-settings.ts']
  .map((file) => readFileSync(new URL(`../../../shared/config/${file}`, import.meta.url), 'utf8'))
  .join('\n');
const sample = JSON.parse(
  readFileSync(new URL('../../../local.settings.sample.json', import.meta.url), 'utf8'),
) as {
  Values: Record<string, string>;
};

/** Every setting name settings.ts reads: the quoted UPPER_CASE names (plus the storage connections). */
function settingNames(): string[] {
  const names = new Set(
    [...settingsSource.matchAll(/'([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1]!).filter((n) => n.includes('_')),
  );
  names.add('AzureWebJobsStorage');
  names.delete('WEBSITE_INSTANCE_ID'); // set by the platform, not by operators
  return [...names].sort();
}

describe('README', () => {
  it('lists every setting in its settings table, and the sample settings file has each too', () => {
    const table = readme.slice(readme.indexOf('## Settings'), readme.indexOf('Loopback rule'));
    const names = settingNames();
    expect(names.length).toBeGreaterThan(30);
    for (const name of names) {
      expect(table, `README settings table lacks ${name}`).toContain(`| \`${name}\``);
      expect(Object.keys(sample.Values), `local.settings.sample.json lacks ${name}`).toContain(name);
    }
  });

  it('documents every problem type the app can answer with', () => {
    for (const { type } of Object.values(problemTypes)) {
      expect(readme, `README lacks ${type}`).toContain(`\`${type}\``);
    }
  });

  it('lists every known device error code with its remedy', () => {
    // Table cells are padded by the formatter: compare with runs of spaces folded.
    const folded = readme.replace(/ +/g, ' ');
    for (const entry of deviceErrorCatalogue()) {
      expect(folded, `README lacks ${entry.name}`).toContain(`| ${entry.name} | ${entry.remedy} |`);
    }
  });
});
