#!/usr/bin/env python3
"""Which ridge should the rank-k multitask fit carry? A numpy experiment (not the product).

mtfqi-train's rank-k problem puts the ridge on the factors: sum_t (1/n_t)||y_t - Psi_t B w_t||^2
+ ridge ||B||_F^2 + head_ridge sum_t ||w_t||^2 (at the optimum a nuclear-norm-like penalty on
Theta = B W). The alternative puts it on each task's theta_t = B w_t: sum_t [(1/n_t)||y_t -
Psi_t theta_t||^2 + ridge ||theta_t||^2] subject to rank(Theta) <= k, i.e. G_t + ridge I in place
of G_t in both ALS steps; at k = T it is the single-task ridge fit exactly, for every ridge.

Both are run here with the same FQI loop (100 iterations, clipped bootstrapped values, ALS from
the spectral start; the theta-ridge B is re-orthonormalised each sweep) and their greedy policies
judged:

  cartpole DIR   DIR from tools/cartpole_check.py: policies rolled out in CartPole-v1 (20 episodes)
  tabular RUN... RUN = a gym_check family folder (runs/NAME, four-rooms or CliffWalking): exact
                 optimality gaps from the family's optimal.h5, mean over the training tasks

Results (tools/GYM_RESULTS.md, 2026-12-05): on CartPole the theta ridge at 0.1 relative gives
492-500 steps at every rank where the factor ridge gives 78-249; on the data-poor four-rooms grid
the factor ridge is better at strong ridges (rank 1: gap 0.105 vs 0.201) and worse at weak ones.

Usage: build/venv-gym/bin/python tools/ridge_forms.py cartpole build/cartpole
       build/venv-gym/bin/python tools/ridge_forms.py tabular build/gym/runs/fourrooms-poor
"""
import json
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import judge_policies as jp  # noqa: E402

def load(fd):
    family=json.load(open(fd.replace('/runs/','/')+'/family.json'))
    m=h5py.File(fd+'/model.h5','r'); psi=jp.FeatureMap(m['features']); names=json.loads(jp.attr_str(m.attrs['task_names']))
    rank=int(m.attrs['rank']); ridge=float(m.attrs['ridge'])
    st=h5py.File(fd+'/store.h5','r'); gamma=family['gamma']
    S,A=psi.S,psi.A; D=S*A
    data=[]
    for name in names:
        g=st['tasks'][name]; s=g['observations'][:].reshape(-1)-psi.s_start; a=g['actions'][:]-psi.a_start; r=g['rewards'][:]; s2=g['next_observations'][:].reshape(-1)-psi.s_start; term=g['terminations'][:]
        n=len(r); idx=s*A+a
        Gd=np.bincount(idx,minlength=D)/n
        data.append(dict(idx=idx,s2=np.clip(s2,0,S-1),r=r,c=gamma*(1-term),Gd=Gd,n=n))
    return family,psi,names,rank,ridge,data,gamma,S,A,D
def fqi(data,gamma,S,A,D,k,lam,bw,iters=100,sweeps=30):
    T=len(data)
    rmin=min(min(d['r'].min() for d in data),0); rmax=max(max(d['r'].max() for d in data),0)
    lo,hi=rmin/(1-gamma),rmax/(1-gamma)
    G=np.stack([d['Gd'] for d in data],1)  # D x T
    Gr=G+(0 if bw else lam)
    thetas=np.zeros((D,T))
    B=None
    for it in range(iters):
        b=np.zeros((D,T))
        for t,d in enumerate(data):
            q=thetas[:,t].reshape(S,A)
            y=d['r']+d['c']*np.clip(q[d['s2']].max(1),lo,hi)
            b[:,t]=np.bincount(d['idx'],weights=y,minlength=D)/d['n']
        if B is None:
            Th=b/(G+lam); U,Sv,Vt=np.linalg.svd(Th,full_matrices=False); B=U[:,:k]*np.sqrt(Sv[:k])
        for sw in range(sweeps):
            W=np.stack([np.linalg.solve(B.T@(Gr[:,t,None]*B)+(lam*np.eye(k) if bw else 1e-12*np.eye(k)), B.T@b[:,t]) for t in range(T)],1)
            # B-step per feature j: sum_t Gr[j,t] w_t w_t^T  b_j = sum_t b[j,t] w_t
            M=np.einsum('jt,at,bt->jab',Gr,W,W)+(lam if bw else 1e-12)*np.eye(k)[None]
            R=np.einsum('jt,at->ja',b,W)
            B=np.linalg.solve(M,R[...,None])[...,0]
            if not bw:
                Q,_=np.linalg.qr(B); B=Q
        W=np.stack([np.linalg.solve(B.T@(Gr[:,t,None]*B)+(lam*np.eye(k) if bw else 1e-12*np.eye(k)), B.T@b[:,t]) for t in range(T)],1)
        thetas=B@W
    return thetas


def cartpole(out):
    from cartpole_check import rollouts, TASKS
    gamma = 0.99
    m=h5py.File(f'{out}/model.h5','r'); psi=jp.FeatureMap(m['features']); names=json.loads(jp.attr_str(m.attrs['task_names']))
    st=h5py.File(f'{out}/store.h5','r')
    data=[]
    for name in names:
        g=st['tasks'][name]; s=g['observations'][:].astype(float); a=g['actions'][:]; r=g['rewards'][:]; s2=g['next_observations'][:].astype(float); term=g['terminations'][:]
        n=len(r); P=psi(s)[np.arange(n),a-psi.a_start]; N=psi(s2)
        data.append(dict(P=P,N=N,r=r,c=gamma*(1-term),G=P.T@P/n,n=n))
    D=psi.D; T=len(names)
    scale=np.mean([np.trace(d['G'])/D for d in data])
    rmin=min(min(d['r'].min() for d in data),0); rmax=max(max(d['r'].max() for d in data),0)
    lo,hi=rmin/(1-gamma),rmax/(1-gamma)
    def fqi(k, rel, iters=100, sweeps=20, bw=False):
        lam=rel*scale
        Gs=[d['G']+(0 if bw else lam)*np.eye(D) for d in data]
        thetas=[np.zeros(D) for _ in range(T)]
        B=np.linalg.qr(np.random.default_rng(0).normal(size=(D,k)))[0]
        for it in range(iters):
            bs=[]
            for d,th in zip(data,thetas):
                y=d['r']+d['c']*np.clip((d['N']@th).max(1),lo,hi)
                bs.append(d['P'].T@y/d['n'])
            if k>=T and not bw:
                thetas=[np.linalg.solve(G,b) for G,b in zip(Gs,bs)]; continue
            # warm start B from previous thetas' SVD on first iteration
            if it==0:
                Th=np.stack([np.linalg.solve(G+(lam*np.eye(D) if bw else 0),b) for G,b in zip(Gs,bs)],1)
                U,S,Vt=np.linalg.svd(Th,full_matrices=False); B=U[:,:k]*np.sqrt(S[:k])
            for sw in range(sweeps):
                W=np.stack([np.linalg.solve(B.T@G@B+(lam*np.eye(k) if bw else 0), B.T@b) for G,b in zip(Gs,bs)],1)  # k x T
                M=sum(np.kron(np.outer(W[:,t],W[:,t]), Gs[t]) for t in range(T))  # (kD x kD), vec(B) column-major
                rhs=sum(np.outer(bs[t],W[:,t]) for t in range(T)).reshape(-1,order='F')
                B=np.linalg.solve(M+(lam if bw else 1e-12)*np.eye(k*D),rhs).reshape(D,k,order='F')
                if not bw:
                    Q,R=np.linalg.qr(B); B=Q
            W=np.stack([np.linalg.solve(B.T@G@B+(lam*np.eye(k) if bw else 0), B.T@b) for G,b in zip(Gs,bs)],1)
            thetas=[B@W[:,t] for t in range(T)]
        return thetas
    weights={f'cartpole_{n}-v0':w for n,w in TASKS.items()}
    for rel,bw in [(0.1,True),(0.001,True),(0.1,False),(0.001,False)]:
        for k in [1,2,4]:
            th=fqi(k,rel,bw=bw)
            res=[rollouts(jp.LinearQ(psi,th[t]),weights[names[t]],episodes=20) for t in range(T)]
            print(f'{"B/W ridge" if bw else "theta-ridge"} rel {rel} k {k}: steps', ' '.join('%.0f'%r[0] for r in res), ' disc', ' '.join('%.1f'%r[1] for r in res), flush=True)


def tabular(folders):
    for fd in folders:
        family,psi,names,rank,ridge,data,gamma,S,A,D=load(fd)
        famdir=fd.replace('/runs/','/')
        bys={t['store_name']:t['name'] for t in family['tasks']}
        def gap(th): return np.mean([jp.exact_gap(famdir,family,bys[n],jp.LinearQ(psi,th[:,t]))['gap'] for t,n in enumerate(names)])
        scale=np.mean([d['Gd'].mean() for d in data])
        print(fd, 'product rank',rank,'ridge %.3g (rel %.3g)'%(ridge,ridge/scale), flush=True)
        for k in sorted(set([1,2,4,rank,len(names)])):
            for rel in sorted({float('%.3g' % (ridge / scale)), 1e-3, 0.1}):
                lam=rel*scale
                g1=gap(fqi(data,gamma,S,A,D,k,lam,True)); g2=gap(fqi(data,gamma,S,A,D,k,lam,False))
                print('  k %d rel %.3g: B/W ridge gap %.4f | theta-ridge gap %.4f'%(k,rel,g1,g2), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("cartpole", "tabular"):
        sys.exit(__doc__)
    if sys.argv[1] == "cartpole":
        cartpole(sys.argv[2])
    else:
        tabular(sys.argv[2:])
