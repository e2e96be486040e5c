package cluster_test

import (
	"fmt"
	"time"

	"github.com/badbatch/badbatch/cluster"
)

func ExampleConfig_Validate() {
	cfg := cluster.DefaultConfig()
	cfg.NodeID = "node-1"
	cfg.ProbeTimeout = 2 * time.Second // not below the 1 s probe interval
	cfg.DeadTimeout = time.Second      // not above the 4 s suspicion timeout
	cfg.EncryptionKey = "c2hvcnQh"     // base64 of 6 bytes
	for _, e := range cluster.ConfigErrors(cfg.Validate()) {
		fmt.Println(e.Field+":", e.Reason)
	}
	// Output:
	// probe_timeout_ms: must be less than probe_interval_ms
	// dead_timeout_ms: must be greater than suspicion_timeout_ms
	// encryption_key: must decode to 16, 24 or 32 bytes, not 6
}

func ExampleConfig_Timings() {
	cfg := cluster.DefaultConfig()
	t := cfg.Timings(5)
	fmt.Println("suspect within", t.SuspectAfter)
	fmt.Println("suspicion", t.SuspicionTimeout, "to", t.SuspicionMaxTimeout)
	fmt.Println("dead within", t.DeadAfter)
	fmt.Println("forgotten after", t.ForgetAfter)
	// Output:
	// suspect within 2.5s
	// suspicion 4s to 24s
	// dead within 33.6s
	// forgotten after 30s
}

func ExampleEncodeMeta() {
	b, err := cluster.EncodeMeta(cluster.Meta{
		APIAddr: "10.0.0.1:8080", State: cluster.NodeReady,
		Disruptors: []string{"orders-eu-2", "orders-eu-1", "payments"},
	})
	if err != nil {
		panic(err)
	}
	m, _ := cluster.DecodeMeta(b)
	fmt.Println(len(b), "bytes:", m.APIScheme, m.APIAddr, m.State, m.Disruptors)
	// Output:
	// 48 bytes: http 10.0.0.1:8080 ready [orders-eu-1 orders-eu-2 payments]
}
