package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
)

func newEventCommand(g *globals) *cobra.Command {
	cmd := group("event", "Publish, read, replay and tail events",
		`Publish events to a disruptor and read them back. An event is a JSON
payload with optional string metadata; the ring holds the last
buffer-size events for replay.`)
	cmd.Aliases = []string{"events", "e"}
	cmd.AddCommand(newPublishCommand(g), newBatchCommand(g), newPublishFileCommand(g),
		newGetCommand(g), newReplayCommand(g), newTailCommand(g))
	return cmd
}

// readFlags are the flags of the commands that read a disruptor.
type readFlags struct {
	consistent bool
}

func (rf *readFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&rf.consistent, "consistent", false,
		"of a replicated disruptor, read what the Raft leader holds (linearizable; a follower asks the leader), not this node's copy")
}

// options are the client's read options.
func (rf *readFlags) options() []client.ReadOption {
	if rf.consistent {
		return []client.ReadOption{client.Consistent()}
	}
	return nil
}

// eventFlags are the flags of the publishing commands.
type eventFlags struct {
	meta     []string // k=v
	key      string   // Idempotency-Key
	envelope bool     // items are {"payload", "metadata"} objects
}

func (ef *eventFlags) add(cmd *cobra.Command, withKey bool) {
	cmd.Flags().StringArrayVarP(&ef.meta, "meta", "m", nil, "metadata key=value for every event (repeatable)")
	cmd.Flags().BoolVar(&ef.envelope, "envelope", false, `each item is an event object {"payload": ..., "payload_base64": ..., "metadata": {...}}, not a bare payload`)
	if withKey {
		cmd.Flags().StringVarP(&ef.key, "idempotency-key", "k", "", "publish at most once per key within the server's dedup window; makes retries safe")
	}
}

// metadata parses --meta.
func (ef *eventFlags) metadata() (map[string]string, error) {
	if len(ef.meta) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(ef.meta))
	for _, kv := range ef.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--meta %q: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// event makes one event of a JSON item: a payload, or with --envelope an
// event object. what names the item in errors.
func (ef *eventFlags) event(item json.RawMessage, meta map[string]string, what string) (client.EventData, error) {
	if !ef.envelope {
		return client.EventData{Payload: item, Metadata: meta}, nil
	}
	var env struct {
		Payload       json.RawMessage   `json:"payload"`
		PayloadBase64 []byte            `json:"payload_base64"`
		Metadata      map[string]string `json:"metadata"`
	}
	d := json.NewDecoder(bytes.NewReader(item))
	d.DisallowUnknownFields()
	if err := d.Decode(&env); err != nil {
		return client.EventData{}, usagef("%s is not an event object: %v", what, err)
	}
	ev := client.EventData{Payload: env.Payload, Binary: env.PayloadBase64, Metadata: env.Metadata}
	for k, v := range meta {
		if ev.Metadata == nil {
			ev.Metadata = map[string]string{}
		}
		if _, ok := ev.Metadata[k]; !ok {
			ev.Metadata[k] = v
		}
	}
	return ev, nil
}

// publishResult prints a publish result.
func (g *globals) publishResult(cmd *cobra.Command, r api.PublishResult) error {
	return g.emitTable(cmd.OutOrStdout(), r, func(t *table) {
		t.columns(column{name: "DISRUPTOR"}, column{name: "FIRST"}, column{name: "LAST"}, column{name: "COUNT"}, column{name: "DUPLICATE"})
		t.add(r.Disruptor, r.FirstSequence, r.LastSequence, r.Count, r.Duplicate)
	})
}

// jsonError says where a JSON text goes wrong.
func jsonError(s string) string {
	var v any
	err := json.Unmarshal([]byte(s), &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "not what was expected"
}

// eventTable writes events as a table; the narrow one cuts metadata and
// payloads to fit.
func eventTable(t *table, events []client.Event) {
	t.columns(column{name: "SEQUENCE"}, column{name: "TIME"}, column{name: "METADATA", cut: true}, column{name: "PAYLOAD", cut: true})
	for _, ev := range events {
		t.add(ev.Sequence, timestamp(ev.Time), metaString(ev.Metadata), payloadString(ev))
	}
}

// payloadString is an event's payload on one line.
func payloadString(ev client.Event) string {
	if ev.Payload == nil {
		return fmt.Sprintf("(%d bytes, base64) %s", len(ev.Binary), base64String(ev.Binary))
	}
	return compactJSON(ev.Payload)
}

func base64String(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}
