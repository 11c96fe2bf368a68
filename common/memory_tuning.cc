#include "common/memory_tuning.h"

#include <malloc.h>

namespace fedtl {

void keepFreedMemoryMapped() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);   // the largest glibc allows: blocks below come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // do not hand the heap's top back after each step
  mallopt(M_TOP_PAD, 64 << 20);          // grow the heap in large steps
}

}  // namespace fedtl
