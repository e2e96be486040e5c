package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/badbatch/badbatch/disruptor"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/wire"
)

// TestWireRulesMatchEngine: the values the wire types allow are the
// engine's names, so the strict check refuses nothing the engine takes in
// its own spelling, and every wait strategy has an idle cost.
func TestWireRulesMatchEngine(t *testing.T) {
	oneof := func(v any, field string) []string {
		for _, f := range specOf(reflect.TypeOf(v)).fields {
			if f.name == field {
				return f.oneof
			}
		}
		t.Fatalf("%T.%s has no oneof rule", v, field)
		return nil
	}
	if got := oneof(wire.CreateRequest{}, "wait_strategy"); !slices.Equal(got, disruptor.WaitStrategyNames) {
		t.Errorf("wait_strategy oneof %v, the disruptor's names %v", got, disruptor.WaitStrategyNames)
	}
	for _, ws := range disruptor.WaitStrategyNames {
		if idleCosts[ws] == "" {
			t.Errorf("no idle cost for %s", ws)
		}
	}
	var states []string
	for _, s := range engine.States {
		if s != engine.StateDeleted {
			states = append(states, s.String())
		}
	}
	if got := oneof(wire.StateRequest{}, "state"); !slices.Equal(got, states) {
		t.Errorf("state oneof %v, the engine's states %v", got, states)
	}
	eng, err := engine.New(engine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(t.Context())
	for _, p := range oneof(wire.CreateRequest{}, "producer_type") {
		if info, err := eng.Create(engine.DisruptorConfig{Name: "p-" + p, ProducerType: p}, false); err != nil || info.ProducerType != p {
			t.Errorf("producer_type %q: %v %v", p, info.ProducerType, err)
		}
	}
	for _, o := range oneof(wire.CreateRequest{}, "overflow") {
		if p, err := engine.ParseOverflowPolicy(o); err != nil || p.String() != o {
			t.Errorf("overflow %q: %v %v", o, p, err)
		}
	}
}

// TestHandWrittenResults: the publish results written by hand decode, with
// the libraries, to the result written.
func TestHandWrittenResults(t *testing.T) {
	for _, want := range []PublishResult{
		{Disruptor: "orders", FirstSequence: 7, LastSequence: 1006, Count: 1000},
		{Disruptor: "é\"x\u2028", FirstSequence: -1 << 40, LastSequence: 1 << 62, Count: 1, Duplicate: true},
	} {
		var fromJSON, fromMsgpack PublishResult
		if err := json.Unmarshal(appendResultJSON(nil, &want), &fromJSON); err != nil || fromJSON != want {
			t.Errorf("JSON: %+v %v, want %+v", fromJSON, err, want)
		}
		d := msgpack.NewDecoder(bytes.NewReader(appendResultMsgpack(nil, &want)))
		d.SetCustomStructTag("json")
		d.DisallowUnknownFields(true)
		if err := d.Decode(&fromMsgpack); err != nil || fromMsgpack != want {
			t.Errorf("MessagePack: %+v %v, want %+v", fromMsgpack, err, want)
		}
	}
}
