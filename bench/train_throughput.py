#!/usr/bin/env python3
"""Python PyTorch baseline for fedtl_bench_train loop: the same model, optimiser, batch and
threads, on Debian's python3-torch (the same LibTorch build). With --device cuda, the same loop
on CUDA device 0 with data, permutation and batches on the device, beside
`fedtl_bench_train loop --device cuda` (launch/gpu-check runs both).

  python3 train_throughput.py [--steps N] [--threads T] [--device cpu|cuda]
"""
import argparse, json, sys, time
import torch, torch.nn as nn, torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1); self.b1 = nn.BatchNorm2d(32)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1); self.b2 = nn.BatchNorm2d(64)
        self.f1 = nn.Linear(64 * 49, 128); self.head = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)
        x = F.max_pool2d(F.relu(self.b2(self.c2(x))), 2)
        return self.head(F.relu(self.f1(x.flatten(1))))


def run(net, opt, X, Y, steps):
    n = len(X); perm = torch.randperm(n, device=X.device); at = 0
    for _ in range(steps):
        if at + 64 > n:
            perm = torch.randperm(n, device=X.device); at = 0
        b = perm[at:at + 64]; at += 64
        opt.zero_grad(); F.cross_entropy(net(X[b]), Y[b]).backward(); opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=300)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    a = ap.parse_args()
    if a.device == 'cuda' and not torch.cuda.is_available():
        print('train_throughput.py: skipped, this PyTorch sees no CUDA device', file=sys.stderr)
        sys.exit(77)
    torch.manual_seed(0); torch.set_num_threads(a.threads)
    n = 64 * 50
    dev = torch.device('cuda:0' if a.device == 'cuda' else 'cpu')
    X, Y = torch.rand(n, 1, 28, 28, device=dev), torch.randint(0, 10, (n,), device=dev)
    net = Net().to(dev); net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    sync = torch.cuda.synchronize if a.device == 'cuda' else (lambda: None)
    run(net, opt, X, Y, 20); sync()
    t0 = time.time(); run(net, opt, X, Y, a.steps); sync(); dt = time.time() - t0
    if a.device == 'cuda':
        print(json.dumps({'bench': 'loop-python-cuda', 'samples_per_second': round(a.steps * 64 / dt, 1),
                          'steps': a.steps, 'device': 'cuda:0', 'torch': torch.__version__}))
    else:
        print(json.dumps({'bench': 'loop-python', 'samples_per_second': round(a.steps * 64 / dt, 1), 'steps': a.steps,
                          'threads': torch.get_num_threads()}))


if __name__ == '__main__':
    main()
