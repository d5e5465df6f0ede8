// Preloaded (`node --import`) into a stand-in that hard-codes a wildcard listen address: fauxqs
// 1.9.2 listens on 0.0.0.0 whatever it is told (dist/app.js). Every TCP listen on a wildcard or
// unspecified host is moved to 127.0.0.1 (docs/design.md "Security": locally every listener, stand-ins
// included, binds to loopback). Plain JavaScript, so it needs no loader.
import net from 'node:net';

const LOOPBACK = '127.0.0.1';
const WILDCARDS = new Set([undefined, null, '', '0.0.0.0', '::', '::0']);
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first] = args;
  if (first !== null && typeof first === 'object' && 'port' in first && WILDCARDS.has(first.host)) {
    args[0] = { ...first, host: LOOPBACK };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === 'string') {
      if (WILDCARDS.has(args[1])) args[1] = LOOPBACK;
    } else {
      args.splice(1, 0, LOOPBACK);
    }
  }
  return listen.apply(this, args);
};
