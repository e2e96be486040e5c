// Package ui is BadBatch's web console: a small single-page application
// embedded in the binary and served by the API server under /ui/, with
// the OpenAPI document rendered by a vendored Swagger UI at
// /ui/api.html. It needs no network beyond the server itself: no CDN, no
// fonts, no analytics.
//
// # What it shows
//
// The disruptors (state, size, fill, rates, latency percentiles, lag,
// subscribers, replay window) with create, pause, resume and delete for
// the roles that may; a disruptor's page with a live tail, replay by
// sequence, a latency histogram and a rate chart; the cluster (members,
// health, Raft leader, term and indices); and the REST API reference.
// docs/console.md has screenshots.
//
// # Security
//
// The console's files are public; everything it shows comes from the
// REST API with the user's API key, entered once and kept in the
// browser's session storage (never in a cookie, so no request is
// authenticated behind the user's back, and CSRF has nothing to ride
// on). It asks GET /api/v1/auth/whoami for the key's role and offers only
// what that role may do; the server checks every call regardless.
//
// Its pages are served with [CSP], which allows scripts, styles, images
// and fetches from the server's own origin only: no inline script or
// style, no eval, no framing. The rest of the API keeps its stricter
// default-src 'none'.
//
// # Building
//
// The console's own code (static/*.js, static/*.css, static/*.html) is
// plain ES modules and CSS served as written. Swagger UI is vendored from
// npm into static/vendor/swagger-ui/ with its licence by `npm ci && npm
// run build` in this directory, and committed, so `go build` needs no
// npm.
package ui
