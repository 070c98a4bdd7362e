package kafkaqueue

// offsetBits is how many of a Seq's bits hold the offset: 2^40 records per
// partition is more than any retention here reaches, and it leaves 24 bits
// of partition.
const offsetBits = 40

// seqOf is the queue position of the record at offset of partition. The
// offset is shifted by one so that no position is zero, which the queue
// contract reserves for "none".
func seqOf(partition int32, offset int64) uint64 {
	return uint64(partition)<<offsetBits | uint64(offset+1)
}

// partitionOf is the partition of a position made by seqOf.
func partitionOf(seq uint64) int32 { return int32(seq >> offsetBits) }

// offsetOf is the offset of a position made by seqOf; -1 for seq's offset
// part zero, which seqOf never makes.
func offsetOf(seq uint64) int64 { return int64(seq&(1<<offsetBits-1)) - 1 }
