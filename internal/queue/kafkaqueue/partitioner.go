package kafkaqueue

import (
	"hash/fnv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partitionFor is the partition of n that records with key go to. The
// lanes compute a destination's partition with it, so
// it must stay what the producer uses.
func partitionFor(key []byte, n int) int32 {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write(key)
	return int32(h.Sum32() % uint32(n))
}

// keyPartitioner places every record by partitionFor. kgo's default hashes
// with murmur2 and may move keyless records around; ours is stated in one
// place so the consumers can compute ownership without asking the broker.
func keyPartitioner() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		return func(r *kgo.Record, n int) int { return int(partitionFor(r.Key, n)) }
	})
}
