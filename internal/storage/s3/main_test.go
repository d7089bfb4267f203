package s3

import (
	"fmt"
	"os"
	"testing"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// gw is the versitygw server shared by every test in the package. TestMain
// starts it before the tests and stops it after them.
var gw *gateway

// gateway is the shared versitygw with what these tests ask of it.
type gateway struct{ *testkit.Gateway }

const testBucket = "avatar-test"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	g, err := testkit.StartVersitygw()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start versitygw:", err)
		return 1
	}
	defer g.Stop()
	gw = &gateway{g}
	if err := gw.CreateBucket(testBucket); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: create test bucket:", err)
		return 1
	}
	return m.Run()
}

// config returns a Config for bucket on the gateway.
func (g *gateway) config(bucket string) Config {
	return Config{
		Bucket:          bucket,
		Endpoint:        g.Endpoint,
		AccessKeyID:     g.AccessKey,
		SecretAccessKey: g.SecretKey,
		ForcePathStyle:  true,
	}
}
