// The request handler every variant shares: GET /kv/<url-encoded key> -> the value bytes, or 404.
// `lookup(key)` returns a Buffer/Uint8Array, undefined, or a promise of one of those.
export function makeHandler(lookup) {
  return (req, res) => {
    if (req.method !== 'GET' || !req.url.startsWith('/kv/')) {
      res.writeHead(404).end();
      return;
    }
    let key;
    try {
      key = decodeURIComponent(req.url.slice(4));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const send = (value) => {
      if (value === undefined || value === null) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': value.length }).end(value);
    };
    const fail = (err) => {
      // A key the database refuses (empty, too long, a lone surrogate) is the client's error, not the server's.
      const badKey = err?.code === 'ERR_EMDB_INVALID_KEY' || err?.code === 'ERR_EMDB_KEY_TOO_LARGE';
      res.writeHead(badKey ? 400 : 500).end(String(err?.code ?? err));
    };
    try {
      const v = lookup(key);
      if (v && typeof v.then === 'function') v.then(send, fail);
      else send(v);
    } catch (err) {
      fail(err);
    }
  };
}
