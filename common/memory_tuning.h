// Process-wide allocator settings for training and aggregation workloads.
#pragma once

namespace fedtl {

// Keeps freed memory in the process instead of returning it to the kernel. Training allocates
// and frees the same multi-megabyte activation buffers every step; with glibc's defaults each
// one is a fresh mmap whose pages fault on first touch (about 12.5 us per 4 KiB page on these
// VMs), which cost the training loop ~20% of its throughput. Call once at start-up.
void keepFreedMemoryMapped();

}  // namespace fedtl
