package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/badbatch/badbatch/wire"
)

// Health answers GET /health: the server is up.
func (c *Client) Health(ctx context.Context) (wire.Health, error) {
	var out wire.Health
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/health"}, &out)
	return out, err
}

// Ready answers GET /health/ready: nil when the server is ready, an
// [ErrNotReady] or [ErrShuttingDown] error otherwise.
func (c *Client) Ready(ctx context.Context) (wire.Health, error) {
	var out wire.Health
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/health/ready"}, &out)
	return out, err
}

// HealthDetail answers GET /api/v1/health: each disruptor's state and
// consumers.
func (c *Client) HealthDetail(ctx context.Context) (wire.Health, error) {
	var out wire.Health
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/health"}, &out)
	return out, err
}

// Version returns the server's build.
func (c *Client) Version(ctx context.Context) (wire.Version, error) {
	var out wire.Version
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/version"}, &out)
	return out, err
}

// OpenAPI returns the server's OpenAPI document, as JSON.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var out []byte
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/openapi.json", accept: "application/json", raw: true}, &out)
	return out, err
}

// PrometheusMetrics returns GET /metrics, the Prometheus text format.
func (c *Client) PrometheusMetrics(ctx context.Context) ([]byte, error) {
	var out []byte
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/metrics", accept: "text/plain", raw: true}, &out)
	return out, err
}

// SystemMetrics returns every disruptor's figures and the process's.
func (c *Client) SystemMetrics(ctx context.Context) (wire.SystemMetrics, error) {
	var out wire.SystemMetrics
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/metrics"}, &out)
	return out, err
}

// DisruptorMetrics returns the figures of the disruptor name, with latency
// percentiles.
func (c *Client) DisruptorMetrics(ctx context.Context, name string) (wire.Metrics, error) {
	var out wire.Metrics
	_, err := c.do(ctx, &request{method: http.MethodGet, path: disruptorPath(name) + "/metrics"}, &out)
	return out, err
}

// ListOptions filter and page [Client.ListDisruptors]. The zero value
// lists the first page of everything.
type ListOptions struct {
	// States keeps the disruptors in these states (created, running,
	// paused, stopped).
	States []string
	// Name keeps the names matching this glob (path.Match syntax).
	Name string
	// Limit is the page size; zero means the server's default (100).
	Limit int
	// After starts the page after this name: the previous page's Next.
	After string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if len(o.States) > 0 {
		q.Set("state", strings.Join(o.States, ","))
	}
	if o.Name != "" {
		q.Set("name", o.Name)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.After != "" {
		q.Set("after", o.After)
	}
	return q
}

// ListDisruptors returns a page of disruptors, by name. When the list
// goes on, the page's Next is the After of the next page.
func (c *Client) ListDisruptors(ctx context.Context, opts ListOptions) (wire.DisruptorList, error) {
	var out wire.DisruptorList
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/disruptors", query: opts.query()}, &out)
	return out, err
}

// AllDisruptors yields every disruptor that opts selects, fetching page
// after page. It ends after the first error.
func (c *Client) AllDisruptors(ctx context.Context, opts ListOptions) iter.Seq2[wire.Disruptor, error] {
	return func(yield func(wire.Disruptor, error) bool) {
		for {
			page, err := c.ListDisruptors(ctx, opts)
			if err != nil {
				yield(wire.Disruptor{}, err)
				return
			}
			for _, d := range page.Disruptors {
				if !yield(d, nil) {
					return
				}
			}
			if page.Next == "" {
				return
			}
			opts.After = page.Next
		}
	}
}

// CreateDisruptor creates a disruptor; zero fields of req take the
// server's defaults, and it starts at once unless req.Start is false.
// Schema may be a decoded document (map[string]any, say) or JSON text
// (json.RawMessage or []byte). Creating is not retried: it is not
// idempotent ([ErrDisruptorExists] the second time).
func (c *Client) CreateDisruptor(ctx context.Context, req wire.CreateRequest) (wire.Disruptor, error) {
	s, err := normalizeDocument(req.Schema)
	if err != nil {
		return wire.Disruptor{}, fmt.Errorf("client: schema: %w", err)
	}
	req.Schema = s
	r, err := c.bodyRequest(http.MethodPost, "/api/v1/disruptors", req)
	if err != nil {
		return wire.Disruptor{}, err
	}
	var out wire.Disruptor
	_, err = c.do(ctx, r, &out)
	return out, err
}

// Disruptor describes the disruptor name.
func (c *Client) Disruptor(ctx context.Context, name string, opts ...ReadOption) (wire.Disruptor, error) {
	var out wire.Disruptor
	_, err := c.do(ctx, &request{method: http.MethodGet, path: disruptorPath(name), query: readQuery(nil, opts)}, &out)
	return out, err
}

// DeleteDisruptor deletes the disruptor name from any state, draining it
// first. Its events are gone.
func (c *Client) DeleteDisruptor(ctx context.Context, name string) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete, path: disruptorPath(name)}, nil)
	return err
}

// State returns the lifecycle state of the disruptor name.
func (c *Client) State(ctx context.Context, name string, opts ...ReadOption) (wire.StateResponse, error) {
	var out wire.StateResponse
	_, err := c.do(ctx, &request{method: http.MethodGet, path: disruptorPath(name) + "/state", query: readQuery(nil, opts)}, &out)
	return out, err
}

// SetState moves the disruptor name to state (running, paused or
// stopped). Moving to the state it is in succeeds and changes nothing, so
// the call is retried safely; a move the lifecycle does not allow is
// [ErrInvalidStateTransition].
func (c *Client) SetState(ctx context.Context, name, state string) (wire.Disruptor, error) {
	r, err := c.bodyRequest(http.MethodPut, disruptorPath(name)+"/state", wire.StateRequest{State: state})
	if err != nil {
		return wire.Disruptor{}, err
	}
	var out wire.Disruptor
	_, err = c.do(ctx, r, &out)
	return out, err
}

// Purge drops a journaled disruptor's events below before (at most its
// next sequence): reads below it are then 410 SEQUENCE_EVICTED. A
// disruptor without a journal is 409 NOT_JOURNALED.
func (c *Client) Purge(ctx context.Context, name string, before int64) (wire.Disruptor, error) {
	r, err := c.bodyRequest(http.MethodPost, disruptorPath(name)+"/purge", wire.PurgeRequest{Before: &before})
	if err != nil {
		return wire.Disruptor{}, err
	}
	var out wire.Disruptor
	_, err = c.do(ctx, r, &out)
	return out, err
}

// Start starts a created disruptor: SetState(name, "running").
func (c *Client) Start(ctx context.Context, name string) (wire.Disruptor, error) {
	return c.SetState(ctx, name, "running")
}

// Pause pauses a running disruptor: publishes are refused while the
// consumers drain.
func (c *Client) Pause(ctx context.Context, name string) (wire.Disruptor, error) {
	return c.SetState(ctx, name, "paused")
}

// Resume resumes a paused disruptor: SetState(name, "running").
func (c *Client) Resume(ctx context.Context, name string) (wire.Disruptor, error) {
	return c.SetState(ctx, name, "running")
}

// Stop stops a disruptor for good, after its consumers drain; its events
// stay readable until it is deleted.
func (c *Client) Stop(ctx context.Context, name string) (wire.Disruptor, error) {
	return c.SetState(ctx, name, "stopped")
}

func disruptorPath(name string) string { return "/api/v1/disruptors/" + url.PathEscape(name) }
