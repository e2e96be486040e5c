package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
	"github.com/badbatch/badbatch/internal/suggest"
)

// Declarative creation, as kubectl apply -f: `disruptor create -f FILE`
// reads disruptor specs and creates each that does not exist, reports as
// unchanged each that exists with the settings the spec gives, and as a
// conflict each that exists with others (a disruptor's settings do not
// change in place).

// spec is one disruptor spec of a file: the body of POST
// /api/v1/disruptors, and where it was read.
type spec struct {
	api.CreateRequest
	where string // "FILE:LINE"
}

// readSpecs reads the specs of one file ("-" for r): YAML documents (or
// JSON, which is YAML), each a spec or a list of specs, strict: an
// unknown or duplicate key, or a value of the wrong type, is an error
// naming the file and line.
func readSpecs(file string, r io.Reader) ([]spec, error) {
	name := file
	if file == "-" {
		name = "standard input"
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, usagef("-f: %v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, usagef("-f %s: %v", name, err)
	}
	d := yaml.NewDecoder(bytes.NewReader(data))
	var out []spec
	for {
		var doc yaml.Node
		if err := d.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, usagef("%s", atLine(name, strings.TrimPrefix(err.Error(), "yaml: ")))
		}
		if len(doc.Content) == 0 {
			continue
		}
		n := doc.Content[0]
		items := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			items = n.Content
		}
		for _, it := range items {
			where := fmt.Sprintf("%s:%d", name, it.Line)
			if it.Kind != yaml.MappingNode {
				return nil, usagef("%s: a disruptor spec is a mapping of settings (name, buffer_size, ...), not %s", where, it.ShortTag())
			}
			var s spec
			if err := decodeStrict(it, &s.CreateRequest); err != nil {
				return nil, usagef("%s", atLine(name, err.Error()))
			}
			if s.Name == "" {
				return nil, usagef("%s: the spec has no name", where)
			}
			s.where = where
			out = append(out, s)
		}
	}
	return out, nil
}

// atLine turns "line N: msg" into "name:N: msg", and anything else into
// "name: msg".
func atLine(name, msg string) string {
	var n int
	if _, err := fmt.Sscanf(msg, "line %d:", &n); err == nil {
		_, rest, _ := strings.Cut(msg, ": ")
		return fmt.Sprintf("%s:%d: %s", name, n, rest)
	}
	return name + ": " + msg
}

// specKeys are the keys of a spec: the yaml names of CreateRequest.
var specKeys = func() []string {
	var keys []string
	t := reflect.TypeFor[api.CreateRequest]()
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}()

// retentionKeys are the keys of a spec's retention.
var retentionKeys = []string{"max_age_ms", "max_bytes", "max_events"}

// decodeStrict decodes the mapping n into req, refusing a key that is not
// a spec's (with the closest one as a hint) and naming the line of what
// is wrong; duplicate keys the YAML decoder refused already.
func decodeStrict(n *yaml.Node, req *api.CreateRequest) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(specKeys, k.Value) {
			return fmt.Errorf("line %d: unknown key %q%s", k.Line, k.Value, suggest.Hint(strings.ToLower(k.Value), slices.Values(specKeys), 3))
		}
		if v := n.Content[i+1]; k.Value == "retention" && v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				if rk := v.Content[j]; !slices.Contains(retentionKeys, rk.Value) {
					return fmt.Errorf("line %d: unknown key %q in retention%s", rk.Line, rk.Value, suggest.Hint(strings.ToLower(rk.Value), slices.Values(retentionKeys), 3))
				}
			}
		}
	}
	if err := n.Decode(req); err != nil {
		return errors.New(strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "), "\n  ", "; "))
	}
	return nil
}

// applyResult is what happened to one spec.
type applyResult struct {
	Name string `json:"name"`
	// Result is created, unchanged, conflict or error.
	Result string `json:"result"`
	// Detail says what differs (conflict) or what failed (error).
	Detail    string         `json:"detail,omitempty"`
	Spec      string         `json:"spec"`
	Disruptor *api.Disruptor `json:"disruptor,omitempty"`
}

// The results of create -f.
const (
	applyCreated   = "created"
	applyUnchanged = "unchanged"
	applyConflict  = "conflict"
	applyError     = "error"
)

// applySpecs creates each spec's disruptor, in order.
func (g *globals) applySpecs(cmd *cobra.Command, files []string) error {
	var specs []spec
	seen := map[string]string{}
	for _, f := range files {
		ss, err := readSpecs(f, cmd.InOrStdin())
		if err != nil {
			return err
		}
		for _, s := range ss {
			if w, dup := seen[s.Name]; dup {
				return usagef("%s: disruptor %q is specified twice (first at %s)", s.where, s.Name, w)
			}
			seen[s.Name] = s.where
			specs = append(specs, s)
		}
	}
	if len(specs) == 0 {
		return usagef("-f %s: no disruptor specs", strings.Join(files, ", "))
	}
	c, err := g.newClient(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	results := make([]applyResult, 0, len(specs))
	failed := 0
	for _, s := range specs {
		r := applyResult{Name: s.Name, Spec: s.where}
		// Create first: the server decides who has the name, so two
		// applies at once cannot both create it.
		d, err := c.CreateDisruptor(cmd.Context(), s.CreateRequest)
		switch {
		case err == nil:
			r.Result, r.Disruptor = applyCreated, &d
		case errors.Is(err, client.ErrDisruptorExists):
			if d, err = c.Disruptor(cmd.Context(), s.Name); err != nil {
				r.Result, r.Detail = applyError, strings.Join(errorLines(err, c.Endpoint()), "; ")
				break
			}
			r.Disruptor = &d
			if diff := specDiff(s.CreateRequest, d); len(diff) > 0 {
				r.Result, r.Detail = applyConflict, "exists with other settings: "+strings.Join(diff, ", ")
			} else {
				r.Result = applyUnchanged
			}
		default:
			if interrupted(cmd.Context(), err) {
				return err
			}
			r.Result, r.Detail = applyError, strings.Join(errorLines(err, c.Endpoint()), "; ")
		}
		if r.Result == applyConflict || r.Result == applyError {
			failed++
		}
		results = append(results, r)
	}
	out := struct {
		Results []applyResult `json:"results"`
	}{results}
	err = g.emitTable(cmd.OutOrStdout(), out, func(t *table) {
		t.columns(column{name: "NAME"}, column{name: "RESULT"}, column{name: "SPEC", wide: true}, column{name: "DETAIL", cut: true})
		for _, r := range results {
			t.add(r.Name, r.Result, r.Spec, r.Detail)
		}
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d disruptor specs were not applied (conflict or error)", failed, len(specs))
	}
	return nil
}

// specDiff lists the settings the spec gives that d does not have, as
// "key: d's value, not the spec's". Settings the spec leaves out, start
// (the lifecycle, not a setting) and first_sequence (where numbering
// began, which the disruptor does not report) are not compared.
func specDiff(s api.CreateRequest, d api.Disruptor) []string {
	var diff []string
	check := func(key string, given bool, spec, have any) {
		if given && !reflect.DeepEqual(spec, have) {
			diff = append(diff, fmt.Sprintf("%s: %v, not %v", key, have, spec))
		}
	}
	check("buffer_size", s.BufferSize != 0, s.BufferSize, d.BufferSize)
	check("producer_type", s.ProducerType != "", s.ProducerType, d.ProducerType)
	check("wait_strategy", s.WaitStrategy != "", s.WaitStrategy, d.WaitStrategy)
	check("max_event_size", s.MaxEventSize != 0, s.MaxEventSize, d.MaxEventSize)
	check("overflow", s.Overflow != "", s.Overflow, d.Overflow)
	check("publish_timeout_ms", s.PublishTimeoutMS != 0, s.PublishTimeoutMS, d.PublishTimeoutMS)
	check("replication", s.Replication != "", s.Replication, cmpOr(d.Replication, api.ReplicationNone))
	check("durability", s.Durability != "", s.Durability, d.Durability)
	check("sync", s.Sync != "", s.Sync, d.Sync)
	if s.Retention != nil {
		have := api.Retention{}
		if d.Retention != nil {
			have = *d.Retention
		}
		check("retention", true, *s.Retention, have)
	}
	if s.Schema != nil {
		var want, have any
		b, _ := json.Marshal(s.Schema)
		_ = json.Unmarshal(b, &want)
		if len(d.Schema) > 0 {
			_ = json.Unmarshal(d.Schema, &have)
		}
		if !reflect.DeepEqual(want, have) {
			diff = append(diff, "schema: another document")
		}
	}
	return diff
}
