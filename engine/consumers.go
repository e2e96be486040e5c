package engine

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/badbatch/badbatch/disruptor"
)

// metricsConsumer is the built-in consumer that measures: events consumed
// and the publish-to-consume latency of each.
type metricsConsumer struct {
	h        *hosted
	consumed atomic.Int64

	mu  sync.Mutex // guards lat; taken once per batch
	lat *latencyStats
}

var (
	_ disruptor.EventHandler[slot] = (*metricsConsumer)(nil)
	_ disruptor.BatchHandler[slot] = (*metricsConsumer)(nil)
)

func newMetricsConsumer(h *hosted) *metricsConsumer {
	return &metricsConsumer{h: h, lat: newLatencyStats()}
}

func (m *metricsConsumer) OnEvent(ev *slot, seq int64, _ bool) error {
	if seq > m.h.restoredTo { // a refilled event's latency is not this run's
		now := m.h.eng.now().UnixNano()
		m.mu.Lock()
		m.lat.record(now-ev.time, 1)
		m.mu.Unlock()
	}
	m.consumed.Add(1)
	return nil
}

// OnBatch records the batch's latencies. Events published together share
// a time, so each run of equal times is recorded once.
func (m *metricsConsumer) OnBatch(events []slot, first int64, _ bool) error {
	now := m.h.eng.now().UnixNano()
	m.mu.Lock()
	for i := max(0, int(min(m.h.restoredTo-first+1, int64(len(events))))); i < len(events); {
		t, j := events[i].time, i+1
		for j < len(events) && events[j].time == t {
			j++
		}
		m.lat.record(now-t, j-i)
		i = j
	}
	m.mu.Unlock()
	m.consumed.Add(int64(len(events)))
	return nil
}

// compileSchema compiles a JSON Schema document. The schema may not load
// anything: every $ref must resolve inside the document (or to a draft's
// meta-schema).
func compileSchema(doc []byte) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(denyLoader{})
	const loc = "mem:///schema.json"
	if err := c.AddResource(loc, v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	return s, nil
}

// printer renders schema errors in English.
var printer = message.NewPrinter(language.English)

// denyLoader refuses to load documents: a schema given to the API must not
// make the server read files or fetch URLs.
type denyLoader struct{}

func (denyLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas may not load other documents (%s)", url)
}

// validatePayload checks one event against a schema.
func validatePayload(s *jsonschema.Schema, e *Event) *SchemaError {
	if e.Binary {
		return &SchemaError{Message: "payload is binary, but the disruptor has a JSON schema"}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Payload))
	if err != nil {
		return &SchemaError{Message: "payload is not JSON: " + err.Error()}
	}
	err = s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &SchemaError{Message: err.Error()}
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	return &SchemaError{Path: jsonPointer(ve.InstanceLocation), Message: ve.ErrorKind.LocalizedString(printer)}
}

// jsonPointer spells a location as an RFC 6901 JSON pointer.
func jsonPointer(loc []string) string {
	var b strings.Builder
	for _, p := range loc {
		b.WriteByte('/')
		p = strings.ReplaceAll(p, "~", "~0")
		b.WriteString(strings.ReplaceAll(p, "/", "~1"))
	}
	return b.String()
}
