package api

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/wire"
)

// Events are written by hand in JSON and MessagePack (replay and the live
// streams are hot), and through yaml.Node trees in YAML.
//
//	{"sequence": 7, "time": "2025-01-02T03:04:05.123456789Z",
//	 "payload": {"any": "json"}, "metadata": {"k": "v"}}
//
// A binary payload is "payload_base64" in JSON and YAML, and a bin
// "payload" in MessagePack; a JSON payload is a native value in all three.

// appendEventJSON appends ev as a JSON object.
func appendEventJSON(dst []byte, ev *engine.Event) []byte {
	dst = append(dst, `{"sequence":`...)
	dst = appendInt(dst, ev.Sequence)
	dst = append(dst, `,"time":"`...)
	dst = ev.Time.AppendFormat(dst, time.RFC3339Nano)
	if ev.Binary {
		dst = append(dst, `","payload_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, ev.Payload)
		dst = append(dst, '"')
	} else {
		dst = append(dst, `","payload":`...)
		dst = append(dst, ev.Payload...)
	}
	if len(ev.Metadata) > 0 {
		dst = append(dst, `,"metadata":{`...)
		for i, m := range ev.Metadata {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, m.Key)
			dst = append(dst, ':')
			dst = appendString(dst, m.Value)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendEventMsgpack appends ev as a MessagePack map.
func appendEventMsgpack(dst []byte, ev *engine.Event) []byte {
	n := 3
	if len(ev.Metadata) > 0 {
		n++
	}
	dst = mpMapLen(dst, n)
	dst = mpStr(dst, "sequence")
	dst = mpInt(dst, ev.Sequence)
	dst = mpStr(dst, "time")
	dst = mpTime(dst, ev.Time)
	dst = mpStr(dst, "payload")
	if ev.Binary {
		dst = mpBin(dst, ev.Payload)
	} else {
		var err error
		mark := len(dst)
		if dst, err = jsonToMsgpack(dst, ev.Payload); err != nil {
			// Stored payloads are valid JSON; should one not be, send the
			// text rather than fail the whole response.
			dst = mpStr(dst[:mark], ev.Payload)
		}
	}
	if len(ev.Metadata) > 0 {
		dst = mpStr(dst, "metadata")
		dst = mpMapLen(dst, len(ev.Metadata))
		for _, m := range ev.Metadata {
			dst = mpStr(dst, m.Key)
			dst = mpStr(dst, m.Value)
		}
	}
	return dst
}

// mpTime appends t as a MessagePack timestamp (extension -1, 96-bit form).
func mpTime(dst []byte, t time.Time) []byte {
	dst = append(dst, 0xc7, 12, 0xff)
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
	return binary.BigEndian.AppendUint64(dst, uint64(t.Unix()))
}

// yamlEvent is an event as YAML.
type yamlEvent struct {
	Sequence      int64      `yaml:"sequence"`
	Time          time.Time  `yaml:"time"`
	Payload       *yaml.Node `yaml:"payload,omitempty"`
	PayloadBase64 string     `yaml:"payload_base64,omitempty"`
	Metadata      *yaml.Node `yaml:"metadata,omitempty"`
}

func toYAMLEvent(ev *engine.Event) yamlEvent {
	y := yamlEvent{Sequence: ev.Sequence, Time: ev.Time}
	if ev.Binary {
		y.PayloadBase64 = base64.StdEncoding.EncodeToString(ev.Payload)
	} else if n, err := jsonToYAML(ev.Payload); err == nil {
		y.Payload = n
	} else {
		y.Payload = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(ev.Payload)}
	}
	if len(ev.Metadata) > 0 {
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, kv := range ev.Metadata {
			m.Content = append(m.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv.Key},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv.Value})
		}
		y.Metadata = m
	}
	return y
}

// jsonToYAML turns valid JSON text into a YAML node tree, keeping the
// order of object members.
func jsonToYAML(src []byte) (*yaml.Node, error) {
	n, err := wire.RawJSON(src).MarshalYAML()
	if err != nil {
		return nil, err
	}
	node, ok := n.(*yaml.Node)
	if !ok {
		return nil, errors.New("an empty JSON document")
	}
	return node, nil
}

// replayPage is a page of replayed events.
type replayPage struct {
	Disruptor            string
	Events               []engine.Event
	Next, Oldest, Latest int64
}

func (p *replayPage) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"disruptor":`...)
	dst = appendString(dst, p.Disruptor)
	dst = append(dst, `,"events":[`...)
	for i := range p.Events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEventJSON(dst, &p.Events[i])
	}
	dst = append(dst, `],"next_sequence":`...)
	dst = appendInt(dst, p.Next)
	dst = append(dst, `,"oldest_sequence":`...)
	dst = appendInt(dst, p.Oldest)
	dst = append(dst, `,"latest_sequence":`...)
	dst = appendInt(dst, p.Latest)
	return append(dst, "}\n"...)
}

func (p *replayPage) appendMsgpack(dst []byte) []byte {
	dst = mpMapLen(dst, 5)
	dst = mpStr(dst, "disruptor")
	dst = mpStr(dst, p.Disruptor)
	dst = mpStr(dst, "events")
	dst = mpArrayLen(dst, len(p.Events))
	for i := range p.Events {
		dst = appendEventMsgpack(dst, &p.Events[i])
	}
	dst = mpStr(dst, "next_sequence")
	dst = mpInt(dst, p.Next)
	dst = mpStr(dst, "oldest_sequence")
	dst = mpInt(dst, p.Oldest)
	dst = mpStr(dst, "latest_sequence")
	return mpInt(dst, p.Latest)
}

type yamlReplay struct {
	Disruptor string      `yaml:"disruptor"`
	Events    []yamlEvent `yaml:"events"`
	Next      int64       `yaml:"next_sequence"`
	Oldest    int64       `yaml:"oldest_sequence"`
	Latest    int64       `yaml:"latest_sequence"`
}

func (p *replayPage) yaml() yamlReplay {
	y := yamlReplay{Disruptor: p.Disruptor, Events: make([]yamlEvent, len(p.Events)), Next: p.Next, Oldest: p.Oldest, Latest: p.Latest}
	for i := range p.Events {
		y.Events[i] = toYAMLEvent(&p.Events[i])
	}
	return y
}

// appendResultJSON appends a publish result as JSON.
func appendResultJSON(dst []byte, r *PublishResult) []byte {
	dst = append(dst, `{"disruptor":`...)
	dst = appendString(dst, r.Disruptor)
	dst = append(dst, `,"first_sequence":`...)
	dst = appendInt(dst, r.FirstSequence)
	dst = append(dst, `,"last_sequence":`...)
	dst = appendInt(dst, r.LastSequence)
	dst = append(dst, `,"count":`...)
	dst = appendInt(dst, int64(r.Count))
	dst = append(dst, `,"duplicate":`...)
	dst = strconv.AppendBool(dst, r.Duplicate)
	return append(dst, "}\n"...)
}

// appendResultMsgpack appends a publish result as a MessagePack map.
func appendResultMsgpack(dst []byte, r *PublishResult) []byte {
	dst = mpMapLen(dst, 5)
	dst = mpStr(dst, "disruptor")
	dst = mpStr(dst, r.Disruptor)
	dst = mpStr(dst, "first_sequence")
	dst = mpInt(dst, r.FirstSequence)
	dst = mpStr(dst, "last_sequence")
	dst = mpInt(dst, r.LastSequence)
	dst = mpStr(dst, "count")
	dst = mpInt(dst, int64(r.Count))
	dst = mpStr(dst, "duplicate")
	return mpBool(dst, r.Duplicate)
}
