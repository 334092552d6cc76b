// Runs before `npm run dev`, `serve` and `bench` (ahead of tsc and of any package): on a Node
// older than package.json's engines.node, one line naming the version needed instead of a stack
// trace from deep inside a dependency. Plain CommonJS with old syntax, so that even an old Node
// can run it far enough to say so.
var engines = require('../package.json').engines.node; // ">=22.0.0"
var needed = Number(/\d+/.exec(engines)[0]);
var running = process.versions.node;
if (Number(running.split('.')[0]) < needed) {
  process.stderr.write(
    'This project needs Node.js ' +
      engines +
      ' (tested on the 22 and 24 LTS lines); this is ' +
      running +
      '. README.md "Two commands" says how to run on a Node build from the npm registry.\n',
  );
  process.exit(1);
}
