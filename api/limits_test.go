package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// TestOversizeBody: a body over the limit is 413 BODY_TOO_LARGE, over a
// real connection, and the server serves normally afterwards.
func TestOversizeBody(t *testing.T) {
	f := newAuthFixture(t, func(_ *engine.Config, a *Config) { a.MaxBodyBytes = 4 << 10 })
	mustCreate(t, f.eng, "acl")
	pub := map[string]string{"Authorization": "Bearer " + f.keys[RolePublisher]}
	big := `{"payload":"` + strings.Repeat("x", 64<<10) + `"}`
	status, _, b := f.call(t, "POST", "/api/v1/disruptors/acl/events", big, pub)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), CodeBodyTooLarge) {
		t.Fatalf("oversize body: %d %s", status, b)
	}
	// Also with no Content-Length (chunked), and gzipped to look small.
	req, _ := http.NewRequest("POST", f.url+"/api/v1/disruptors/acl/events", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Authorization", pub["Authorization"])
	res, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize body: %d", res.StatusCode)
	}
	r := f.do(t, request{method: "POST", path: "/api/v1/disruptors/acl/events", raw: []byte(big), gzipBody: true, header: pub})
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("gzipped oversize body: %d", r.status)
	}
	for range 3 {
		if status, _, b := f.call(t, "POST", "/api/v1/disruptors/acl/events", `{"payload":1}`, pub); status != 200 {
			t.Fatalf("publish after the oversize bodies: %d %s", status, b)
		}
	}
	if status, _, _ := f.call(t, "GET", "/health/ready", "", nil); status != 200 {
		t.Errorf("ready after the oversize bodies: %d", status)
	}
}

// TestRateLimit: a burst over a key's rate is answered 429 RATE_LIMITED
// with Retry-After; other keys have their own buckets; requests without
// credentials draw on their address's; the bucket refills.
func TestRateLimit(t *testing.T) {
	const burst = 5
	// A token a second: the burst is spent long before one comes back.
	f := newAuthFixture(t, func(_ *engine.Config, a *Config) { a.RateLimit, a.RateBurst = 1, burst })
	rdr := map[string]string{"Authorization": "Bearer " + f.keys[RoleReader]}
	var limited int
	var retry string
	for range burst + 3 {
		status, h, b := f.call(t, "GET", "/api/v1/disruptors", "", rdr)
		switch status {
		case 200:
		case 429:
			limited++
			retry = h.Get("Retry-After")
			if !strings.Contains(string(b), CodeRateLimited) {
				t.Errorf("429 body %s", b)
			}
		default:
			t.Fatalf("status %d %s", status, b)
		}
	}
	if limited < 2 || limited > 3 {
		t.Errorf("%d of %d requests limited, want 3 (2 if a token came back)", limited, burst+3)
	}
	if n, err := strconv.Atoi(retry); err != nil || n != 1 {
		t.Errorf("Retry-After %q", retry)
	}
	if status, _, _ := f.call(t, "GET", "/api/v1/disruptors", "", map[string]string{"X-API-Key": f.keys[RoleOperator]}); status != 200 {
		t.Errorf("another key was limited: %d", status)
	}
	// Guessing keys draws on the address's bucket.
	var guesses429 bool
	for range burst + 2 {
		status, _, _ := f.call(t, "GET", "/api/v1/disruptors", "", map[string]string{"X-API-Key": GenerateKey()})
		guesses429 = guesses429 || status == 429
	}
	if !guesses429 {
		t.Error("wrong keys were never rate limited")
	}
	waitFor(t, "the reader's bucket to refill", func() bool {
		status, _, _ := f.call(t, "GET", "/api/v1/disruptors", "", rdr)
		return status == 200
	})
	n := 0
	for _, a := range auditLines(t, f.logs.String()) {
		if a["reason"] == "rate_limited" {
			n++
		}
	}
	if n < limited {
		t.Errorf("%d rate_limited audit lines for %d limited requests", n, limited)
	}
}

// TestSlowloris: a client that sends its headers slowly is cut off after
// the read header timeout, and others are served meanwhile.
func TestSlowloris(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ts := newTestServer(t, func(_ *engine.Config, a *Config) { a.ReadHeaderTimeout = timeout })
	start := time.Now() // the server's deadline starts at accept, so before the dial returns
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /api/v1/version HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// One header byte every 50 ms: the connection never goes idle, but
	// the headers never end.
	cut := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 512)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, err := conn.Read(buf); err != nil {
				cut <- time.Since(start)
				return
			}
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var took time.Duration
dribble:
	for {
		select {
		case took = <-cut:
			break dribble
		case <-tick.C:
			_, _ = conn.Write([]byte("X"))
			if r := ts.do(t, request{method: "GET", path: "/health"}); r.status != 200 {
				t.Fatalf("health while dribbling: %d", r.status)
			}
		}
	}
	if took < timeout || took > timeout+3*time.Second {
		t.Errorf("connection cut after %v, want about %v", took, timeout)
	}
}

// TestStreamsPerKey: a client holds at most MaxStreamsPerKey live
// streams; another client has its own quota; a closed stream frees its
// slot.
func TestStreamsPerKey(t *testing.T) {
	f := newAuthFixture(t, func(_ *engine.Config, a *Config) { a.MaxStreamsPerKey = 1 })
	mustCreate(t, f.eng, "acl")
	open := func(key string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", f.url+"/api/v1/disruptors/acl/events/stream?format=ndjson", nil)
		req.Header.Set("X-API-Key", key)
		res, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res, cancel
	}
	first, cancel := open(f.keys[RoleReader])
	if first.StatusCode != 200 {
		t.Fatalf("first stream: %d", first.StatusCode)
	}
	second, cancel2 := open(f.keys[RoleReader])
	b, _ := io.ReadAll(second.Body)
	second.Body.Close()
	cancel2()
	if second.StatusCode != 429 || second.Header.Get("Retry-After") == "" || !strings.Contains(string(b), CodeTooManySubscribers) {
		t.Errorf("second stream of the key: %d %s", second.StatusCode, b)
	}
	admin, cancel3 := open(f.keys[RoleAdmin])
	if admin.StatusCode != 200 {
		t.Errorf("another key's stream: %d", admin.StatusCode)
	}
	admin.Body.Close()
	cancel3()
	cancel()
	first.Body.Close()
	waitFor(t, "the slot to be freed", func() bool {
		res, c := open(f.keys[RoleReader])
		defer c()
		defer res.Body.Close()
		return res.StatusCode == 200
	})
}

// TestKeysNeverLogged: keys sent in every accepted way, right or wrong,
// never reach the log, and neither do their hashes.
func TestKeysNeverLogged(t *testing.T) {
	f := newAuthFixture(t)
	mustCreate(t, f.eng, "acl")
	wrong := GenerateKey()
	for _, h := range []map[string]string{
		{"Authorization": "Bearer " + f.keys[RoleAdmin]},
		{"X-API-Key": f.keys[RolePublisher]},
		{"Authorization": "Bearer " + wrong},
		{"Authorization": "Basic " + f.keys[RoleReader]},
		{"Authorization": "Bearer " + f.keys[RoleOperator], "X-API-Key": f.keys[RoleAdmin]},
	} {
		for _, path := range []string{"/api/v1/disruptors/acl/events", "/api/v1/version", "/nope"} {
			f.call(t, "POST", path, `{"payload":1}`, h)
			f.call(t, "GET", path, "", h)
		}
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"audit"`) {
		t.Fatal("no audit lines: is the log captured?")
	}
	for name, k := range map[string]string{"admin": f.keys[RoleAdmin], "publisher": f.keys[RolePublisher],
		"reader": f.keys[RoleReader], "operator": f.keys[RoleOperator], "wrong": wrong} {
		if strings.Contains(logs, k) || strings.Contains(logs, strings.TrimPrefix(HashKey(k), "sha256:")) {
			t.Errorf("the %s key or its hash is in the logs", name)
		}
	}
}
