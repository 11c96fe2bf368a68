#include "common/transport/inproc/inproc_transport.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

namespace fedtl::transport {
namespace {

// A bounded queue whose waits all end by a deadline.
template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}
  bool push(T item, Millis timeout) {
    std::unique_lock lock(mu_);
    if (!notFull_.wait_for(lock, timeout, [&] { return closed_ || items_.size() < capacity_; }) || closed_) return false;
    items_.push_back(std::move(item));
    notEmpty_.notify_one();
    return true;
  }
  std::optional<T> pop(Millis timeout) {
    std::unique_lock lock(mu_);
    if (!notEmpty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); }) || items_.empty()) return {};
    T item = std::move(items_.front());
    items_.pop_front();
    notFull_.notify_one();
    return item;
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    notEmpty_.notify_all();
    notFull_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable notEmpty_, notFull_;
  std::deque<T> items_;
  std::size_t capacity_;
  bool closed_ = false;
};

}  // namespace

struct InprocHub::State {
  State(std::size_t capacity, bool reduces) : capacity(capacity), reduces(reduces), inbox(capacity * 4) {}
  std::size_t capacity;
  bool reduces;
  BoundedQueue<Incoming> inbox;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<BoundedQueue<SharedFrame>>> outboxes;  // by participant name
  // The shared sum's inputs: each participant's latest contribution and its key.
  std::map<std::string, std::pair<std::uint64_t, std::vector<std::uint32_t>>> contributions;
  std::map<std::string, std::pair<std::uint64_t, std::vector<float>>> floatContributions;
};

namespace {

class InprocLink : public Link {
 public:
  InprocLink(std::string name, std::shared_ptr<InprocHub::State> hub, std::shared_ptr<BoundedQueue<SharedFrame>> outbox)
      : name_(std::move(name)), hub_(std::move(hub)), outbox_(std::move(outbox)) {}
  ~InprocLink() override {
    std::lock_guard lock(hub_->mu);
    auto it = hub_->outboxes.find(name_);
    if (it != hub_->outboxes.end() && it->second == outbox_) hub_->outboxes.erase(it);
    outbox_->close();
  }
  const std::string& name() const override { return name_; }
  bool send(std::string_view frame, Millis timeout) override {
    if (!current()) return false;
    return hub_->inbox.push({name_, Frame(std::string(frame))}, timeout);
  }
  std::optional<Frame> receive(Millis timeout) override {
    auto shared = outbox_->pop(timeout);
    if (!shared) return {};
    return Frame(std::move(*shared));
  }
  bool reducesInTransport() const override { return hub_->reduces; }
  bool contribute(std::uint64_t key, std::vector<std::uint32_t> values, Millis) override {
    if (!hub_->reduces || !current()) return false;
    std::lock_guard lock(hub_->mu);
    hub_->contributions[name_] = {key, std::move(values)};
    return true;
  }
  bool contributeFloat(std::uint64_t key, std::vector<float> values, Millis) override {
    if (!hub_->reduces || !current()) return false;
    std::lock_guard lock(hub_->mu);
    hub_->floatContributions[name_] = {key, std::move(values)};
    return true;
  }

 private:
  bool current() {
    std::lock_guard lock(hub_->mu);
    auto it = hub_->outboxes.find(name_);
    return it != hub_->outboxes.end() && it->second == outbox_;
  }
  std::string name_;
  std::shared_ptr<InprocHub::State> hub_;
  std::shared_ptr<BoundedQueue<SharedFrame>> outbox_;
};

}  // namespace

InprocHub::InprocHub(std::size_t queueCapacity, bool reduceInTransport)
    : state_(std::make_shared<State>(queueCapacity, reduceInTransport)) {}

InprocHub::~InprocHub() {
  state_->inbox.close();
  std::lock_guard lock(state_->mu);
  for (auto& [name, q] : state_->outboxes) q->close();
}

bool InprocHub::send(const std::string& peer, SharedFrame frame, Millis timeout) {
  std::shared_ptr<BoundedQueue<SharedFrame>> q;
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->outboxes.find(peer);
    if (it == state_->outboxes.end()) return false;
    q = it->second;
  }
  return q->push(std::move(frame), timeout);
}

std::optional<Incoming> InprocHub::receive(Millis timeout) { return state_->inbox.pop(timeout); }

bool InprocHub::reducesInTransport() const { return state_->reduces; }

bool InprocHub::reduceSum(std::uint64_t key, const std::vector<std::string>& contributors,
                          std::vector<std::uint32_t>& sum, Millis) {
  if (!state_->reduces) return Hub::reduceSum(key, contributors, sum, Millis(0));
  std::fill(sum.begin(), sum.end(), 0u);
  std::lock_guard lock(state_->mu);
  for (const auto& name : contributors) {
    auto it = state_->contributions.find(name);
    // A named contributor without its vector adds zeros, as an MPI rank would.
    if (it == state_->contributions.end() || it->second.first != key || it->second.second.size() != sum.size()) continue;
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += it->second.second[i];  // wraps mod 2^32
  }
  return true;
}

bool InprocHub::reduceFloatSum(std::uint64_t key, const std::vector<std::string>& contributors, std::vector<float>& sum,
                               Millis) {
  if (!state_->reduces) return Hub::reduceFloatSum(key, contributors, sum, Millis(0));
  std::fill(sum.begin(), sum.end(), 0.0f);
  std::lock_guard lock(state_->mu);
  for (const auto& name : contributors) {
    auto it = state_->floatContributions.find(name);
    if (it == state_->floatContributions.end() || it->second.first != key || it->second.second.size() != sum.size())
      continue;  // zeros, as for the uint32 sum
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += it->second.second[i];
  }
  return true;
}

std::unique_ptr<Link> InprocHub::connect(const std::string& name) {
  auto q = std::make_shared<BoundedQueue<SharedFrame>>(state_->capacity);
  std::lock_guard lock(state_->mu);
  auto& slot = state_->outboxes[name];
  if (slot) slot->close();  // the replaced link's receives end at once
  slot = q;
  return std::make_unique<InprocLink>(name, state_, q);
}

}  // namespace fedtl::transport
