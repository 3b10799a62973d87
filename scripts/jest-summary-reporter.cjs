// Writes test-results/summary.json for the package under test, so the root `npm test` can print a
// per-package table and a total after turbo has run every package (cached runs restore the file).
// A second jest run of one package (its `test:load` tier) sets TANDEM_TEST_SUMMARY=<name> and
// writes test-results/<name>.json beside it.
const fs = require('node:fs');
const path = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }
  onRunComplete(_contexts, results) {
    const pkg = JSON.parse(fs.readFileSync(path.join(this.rootDir, 'package.json'), 'utf8')).name;
    const dir = path.join(this.rootDir, 'test-results');
    fs.mkdirSync(dir, { recursive: true });
    const name = process.env.TANDEM_TEST_SUMMARY || 'summary';
    const summary = {
      package: name === 'summary' ? pkg : `${pkg} (${name.replace(/^summary-/, '')})`,
      suites: results.numTotalTestSuites,
      passed: results.numPassedTests,
      failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
      failedSuites: results.numFailedTestSuites,
      skipped: results.numPendingTests + results.numTodoTests,
      success:
        results.numFailedTestSuites === 0 &&
        results.numRuntimeErrorTestSuites === 0 &&
        !results.wasInterrupted,
      seconds: (Date.now() - results.startTime) / 1000,
    };
    fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  }
}
module.exports = SummaryReporter;
