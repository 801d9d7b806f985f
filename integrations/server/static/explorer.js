// Hive memory explorer: search a tenant's memories, open one to see its causal
// chain and history, and move through time with `as_of`.
//
// Every text from the server is put in the page as a text node (never parsed
// as HTML). The API key lives in this tab's sessionStorage only; a link may
// carry it in its fragment (#key=...), which is never sent to the server and is
// removed from the address bar once read.
(() => {
  'use strict';

  const STORAGE_KEY = 'hive.explorer.key';
  const SEARCH_K = 20;
  const REQUEST_TIMEOUT_MS = 30000;
  const $ = (id) => document.getElementById(id);

  const state = {
    key: null,
    query: '',
    asOf: null, // epoch ms, or null for "now"
    opened: null, // {ref, agent, thread}
    results: [],
    versions: [],
    historyProblem: null, // ApiError of the opened memory's /history, if it failed
    bounds: null, // {min, max} epoch ms of the slider
    searchGeneration: 0,
    openGeneration: 0,
    pending: 0,
  };

  class ApiError extends Error {
    constructor(status, kind, message, fields) {
      super(message);
      this.status = status;
      this.kind = kind;
      this.fields = fields || {};
    }

    describe() {
      const where = this.status ? `, HTTP ${this.status}` : '';
      const fields = Object.entries(this.fields)
        .map(([name, value]) => `${name}: ${value}`)
        .join('; ');
      return `${this.message} (${this.kind}${where})${fields ? ` [${fields}]` : ''}`;
    }
  }

  // ---- DOM -------------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'className') node.className = value;
      else if (name === 'dataset') Object.assign(node.dataset, value);
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function formatTime(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
    const date = new Date(ms);
    // Out of Date's range: show the number rather than failing the whole view.
    return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
  }

  function showError(error) {
    const box = $('error');
    const text = error instanceof ApiError ? error.describe() : `Unexpected error: ${error && error.message}`;
    box.textContent = text;
    box.hidden = false;
  }

  function clearError() {
    $('error').textContent = '';
    $('error').hidden = true;
  }

  function busy(delta) {
    state.pending += delta;
    document.body.dataset.state = state.pending > 0 ? 'loading' : 'ready';
  }

  // ---- API -------------------------------------------------------------------------------

  function problemOf(where, status, statusText, data) {
    if (data && typeof data.message === 'string') {
      return new ApiError(status, data.error || 'Error', data.message, data.fields);
    }
    if (data && Array.isArray(data.detail)) {
      const text = data.detail
        .map((d) => `${(d.loc || []).filter((p) => p !== 'body').join('.') || 'request'}: ${d.msg}`)
        .join('; ');
      return new ApiError(status, 'ValidationError', `The request was refused: ${text}`);
    }
    const said = data && typeof data.detail === 'string' ? data.detail : statusText || 'no reason given';
    return new ApiError(status, 'HTTPError', `${where} answered: ${said}`);
  }

  async function api(method, path, { query, body } = {}) {
    if (!state.key) {
      throw new ApiError(0, 'NoKey', 'Enter an API key first (a key made with "hive keys create").');
    }
    const url = new URL(path, document.baseURI);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
    }
    const headers = { Authorization: `Bearer ${state.key}`, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    busy(+1);
    try {
      let response;
      try {
        response = await fetch(url, init);
      } catch (err) {
        const why = err && err.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : err.message;
        throw new ApiError(0, 'NetworkError', `Could not reach the Hive server (${method} ${url.pathname}): ${why}`);
      }
      const text = await response.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch (_) {
        data = null;
      }
      if (!response.ok) throw problemOf(`${method} ${url.pathname}`, response.status, response.statusText, data);
      if (data === null) {
        throw new ApiError(response.status, 'BadResponse', `${method} ${url.pathname} answered without a JSON body`);
      }
      return data;
    } finally {
      busy(-1);
    }
  }

  const memoryPath = (ref, suffix) => `v1/memories/${encodeURIComponent(ref)}${suffix || ''}`;

  function scopeOf(memory) {
    const ns = Array.isArray(memory.namespace) ? memory.namespace : [];
    return { agent: ns.length > 1 ? ns[1] : null, thread: ns.length > 2 ? ns[2] : null };
  }

  // A history version or provenance step may carry its record inline or nested.
  const recordOf = (item) => (item && (item.memory || item.record)) || item || {};

  // ---- rendering -------------------------------------------------------------------------

  function memoryLine(memory, extra) {
    return el(
      'div',
      { className: 'memory-line' },
      el('span', { className: 'key' }, memory.key || memory.id || '(no key)'),
      ' ',
      el('span', { className: 'content' }, memory.content ?? ''),
      ' ',
      el('time', { className: 'recorded', datetime: formatTime(memory.recorded_at) }, formatTime(memory.recorded_at)),
      extra || null,
    );
  }

  function renderResults() {
    const list = $('results');
    list.replaceChildren();
    for (const hit of state.results) {
      const memory = hit.memory || {};
      const score = typeof hit.score === 'number' ? hit.score.toFixed(4) : '—';
      const open = () => openMemory(memory.key || memory.id, scopeOf(memory));
      list.append(
        el(
          'li',
          { className: 'result', dataset: { id: memory.id || '', key: memory.key || '' } },
          el('button', { type: 'button', className: 'open', onclick: open, title: 'Open this memory' }, 'Open'),
          ' ',
          el('span', { className: 'score' }, score),
          ' ',
          memoryLine(memory),
          Array.isArray(hit.signals) && hit.signals.length
            ? el('span', { className: 'signals muted' }, ` found by ${hit.signals.join(', ')}`)
            : null,
        ),
      );
    }
    const when = state.asOf === null ? '' : ` as known at ${formatTime(state.asOf)}`;
    $('results-status').textContent = state.query
      ? `${state.results.length} result${state.results.length === 1 ? '' : 's'} for "${state.query}"${when}`
      : '';
  }

  function renderMemory(memory, missing) {
    const box = $('memory');
    box.replaceChildren();
    const when = state.asOf === null ? 'now' : formatTime(state.asOf);
    if (missing) {
      box.append(el('p', { className: 'missing' }, `Nothing was known about "${state.opened.ref}" as of ${when}.`));
      return;
    }
    const rows = [
      ['id', memory.id],
      ['key', memory.key || '—'],
      ['namespace', (memory.namespace || []).join(' / ')],
      ['kind', memory.kind],
      ['confidence', typeof memory.confidence === 'number' ? memory.confidence.toFixed(3) : '—'],
      ['recorded', formatTime(memory.recorded_at)],
      ['valid from', formatTime(memory.valid_from)],
      ['metadata', JSON.stringify(memory.metadata || {})],
    ];
    box.append(
      el('p', { className: 'as-of-note muted' }, `As known ${state.asOf === null ? 'now' : `at ${when}`}:`),
      el('blockquote', { className: 'content', dataset: { id: memory.id || '' } }, memory.content ?? ''),
      el('dl', {}, rows.map(([name, value]) => [el('dt', {}, name), el('dd', {}, value ?? '—')])),
    );
  }

  function renderWhy(steps, problem) {
    const list = $('why');
    list.replaceChildren();
    if (problem) {
      list.append(el('li', { className: 'problem' }, problem.describe()));
      return;
    }
    if (!steps.length) list.append(el('li', { className: 'muted' }, 'No recorded causes.'));
    for (const step of steps) {
      const memory = recordOf(step);
      const edge = step.edge || {};
      const kind = edge.kind || step.kind || 'linked';
      list.append(
        el(
          'li',
          { className: 'step', dataset: { kind, depth: step.depth ?? '' } },
          el('span', { className: 'edge' }, `${kind} (hop ${step.depth ?? '?'})`),
          ' ',
          el(
            'button',
            { type: 'button', className: 'open', onclick: () => openMemory(memory.key || memory.id, scopeOf(memory)) },
            'Open',
          ),
          ' ',
          memoryLine(memory),
        ),
      );
    }
  }

  function renderHistory(shownId, problem) {
    const list = $('history');
    list.replaceChildren();
    if (problem) {
      list.append(el('li', { className: 'problem' }, problem.describe()));
      return;
    }
    for (const version of state.versions) {
      const memory = recordOf(version);
      const believedUntil = version.invalidated_at ?? memory.invalidated_at ?? null;
      const validTo = version.valid_to ?? memory.valid_to ?? null;
      const notes = [
        version.reason ? `written because: ${version.reason}` : null,
        believedUntil !== null ? `believed until ${formatTime(believedUntil)}` : 'still believed',
        validTo !== null ? `true in the world until ${formatTime(validTo)}` : null,
        version.expired_reason ? `ended because: ${version.expired_reason}` : null,
        version.superseded_by ? `superseded by ${version.superseded_by}` : null,
      ].filter(Boolean);
      const shown = shownId !== null && (memory.id || version.id) === shownId;
      list.append(
        el(
          'li',
          { className: shown ? 'version shown' : 'version', dataset: { id: memory.id || version.id || '' } },
          memoryLine(memory),
          el('div', { className: 'notes muted' }, notes.join(' · ')),
          shown ? el('strong', { className: 'badge' }, state.asOf === null ? 'current' : 'known then') : null,
        ),
      );
    }
  }

  // ---- time slider -----------------------------------------------------------------------

  function recomputeBounds() {
    const times = [];
    for (const version of state.versions) times.push(recordOf(version).recorded_at);
    for (const hit of state.results) times.push((hit.memory || {}).recorded_at);
    if (state.asOf !== null) times.push(state.asOf);
    const finite = times.filter((t) => typeof t === 'number' && Number.isFinite(t));
    state.bounds = finite.length ? { min: Math.min(...finite), max: Math.max(...finite) } : null;
    renderSlider();
  }

  function renderSlider() {
    const slider = $('as-of');
    const bounds = state.bounds;
    if (!bounds || bounds.max <= bounds.min) {
      slider.disabled = true;
      $('as-of-label').textContent = state.asOf === null ? 'now' : formatTime(state.asOf);
      return;
    }
    slider.min = String(bounds.min);
    slider.max = String(bounds.max);
    slider.value = String(state.asOf === null ? bounds.max : state.asOf);
    slider.disabled = false;
    $('as-of-label').textContent = state.asOf === null ? 'now' : formatTime(state.asOf);
  }

  async function travel(asOf) {
    state.asOf = asOf;
    renderSlider();
    syncFragment();
    clearError();
    const work = [];
    if (state.query) work.push(runSearch());
    if (state.opened) work.push(loadOpenedAt());
    await Promise.all(work);
  }

  // ---- actions ---------------------------------------------------------------------------

  async function runSearch() {
    const generation = ++state.searchGeneration;
    const body = { query: state.query, k: SEARCH_K };
    if (state.asOf !== null) body.as_of = state.asOf;
    try {
      const data = await api('POST', 'v1/memories/search', { body });
      if (generation !== state.searchGeneration) return;
      state.results = Array.isArray(data.results) ? data.results : [];
    } catch (error) {
      if (generation !== state.searchGeneration) return;
      state.results = [];
      showError(error);
    }
    renderResults();
  }

  async function loadOpenedAt() {
    const opened = state.opened;
    const generation = ++state.openGeneration;
    const query = { agent: opened.agent, thread: opened.thread, as_of: state.asOf };
    let memory = null;
    let missing = false;
    try {
      memory = await api('GET', memoryPath(opened.ref), { query });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        if (generation === state.openGeneration) showError(error);
        return;
      }
      missing = true;
    }
    if (generation !== state.openGeneration || opened !== state.opened) return;
    renderMemory(memory, missing);
    renderHistory(missing ? null : memory.id, state.historyProblem);
  }

  async function openMemory(ref, scope) {
    if (!ref) return;
    state.opened = { ref, agent: (scope && scope.agent) || null, thread: (scope && scope.thread) || null };
    syncFragment();
    clearError();
    const query = { agent: state.opened.agent, thread: state.opened.thread };
    const [versions, why] = await Promise.allSettled([
      api('GET', memoryPath(ref, '/history'), { query }),
      api('GET', memoryPath(ref, '/why'), { query }),
    ]);
    state.versions = versions.status === 'fulfilled' && Array.isArray(versions.value.versions) ? versions.value.versions : [];
    state.historyProblem = versions.status === 'rejected' ? versions.reason : null;
    renderHistory(null, state.historyProblem);
    if (why.status === 'fulfilled') renderWhy(Array.isArray(why.value.steps) ? why.value.steps : [], null);
    else renderWhy([], why.reason);
    recomputeBounds();
    await loadOpenedAt();
  }

  async function search(query) {
    state.query = query.trim();
    syncFragment();
    clearError();
    if (!state.query) {
      state.results = [];
      renderResults();
      return;
    }
    await runSearch();
    recomputeBounds();
  }

  function setKey(key) {
    state.key = key || null;
    if (state.key) sessionStorage.setItem(STORAGE_KEY, state.key);
    else sessionStorage.removeItem(STORAGE_KEY);
    $('key-status').textContent = state.key
      ? 'A key is set for this tab (kept until the tab closes).'
      : 'No key: enter one to start.';
    $('api-key').value = '';
  }

  // ---- URL fragment ----------------------------------------------------------------------

  function syncFragment() {
    const params = new URLSearchParams();
    if (state.query) params.set('q', state.query);
    if (state.opened) {
      params.set('open', state.opened.ref);
      if (state.opened.agent) params.set('agent', state.opened.agent);
      if (state.opened.thread) params.set('thread', state.opened.thread);
    }
    if (state.asOf !== null) params.set('as_of', String(state.asOf));
    const fragment = params.toString();
    history.replaceState(null, '', fragment ? `#${fragment}` : `${location.pathname}${location.search}`);
  }

  function parseAsOf(text) {
    if (/^\d+$/.test(text)) return Number(text);
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) {
      throw new ApiError(0, 'BadLink', `as_of=${text} in the link is neither epoch milliseconds nor an ISO-8601 date-time`);
    }
    return ms;
  }

  async function start() {
    const params = new URLSearchParams(location.hash.slice(1));
    setKey(params.get('key') || sessionStorage.getItem(STORAGE_KEY));
    $('query').value = params.get('q') || '';
    busy(+1);
    try {
      if (params.get('as_of')) state.asOf = parseAsOf(params.get('as_of'));
      state.query = (params.get('q') || '').trim();
      syncFragment(); // drops the key from the address bar
      if (!state.key) return;
      const work = [];
      if (state.query) work.push(runSearch());
      if (params.get('open')) {
        work.push(openMemory(params.get('open'), { agent: params.get('agent'), thread: params.get('thread') }));
      }
      await Promise.all(work);
      recomputeBounds();
    } catch (error) {
      showError(error);
    } finally {
      busy(-1);
    }
  }

  // ---- wiring ----------------------------------------------------------------------------

  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setKey($('api-key').value.trim());
    clearError();
    if (state.query) search(state.query);
    if (state.opened) openMemory(state.opened.ref, state.opened);
  });
  $('forget-key').addEventListener('click', () => setKey(null));
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    search($('query').value);
  });
  $('as-of').addEventListener('input', (event) => {
    $('as-of-label').textContent = formatTime(Number(event.target.value));
  });
  $('as-of').addEventListener('change', (event) => travel(Number(event.target.value)));
  $('as-of-now').addEventListener('click', () => travel(null));

  start();
})();
