package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkLimiter: the cost of one decision, memory and Redis, next to no
// limiter, in one run. Keys rotate over 1000 customers with the story's
// 10/hour policy, so both allowed and refused decisions are measured.
func BenchmarkLimiter(b *testing.B) {
	p := Policy{Name: "hourly", Limit: 10, Window: time.Hour}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	ctx := context.Background()
	for name, l := range map[string]Limiter{"none": nil, "memory": NewMemory(), "redis": newRedis(b)} {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if l == nil {
					continue
				}
				if _, err := l.Allow(ctx, keys[i%len(keys)], p, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
