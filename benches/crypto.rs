//! Seal + open of one packet with each candidate AEAD (RustCrypto's
//! ChaCha20-Poly1305 and AES-256-GCM), at 64 and 1400 bytes, and lentil's
//! own packet protection (seal, then open with the replay check).
//! `cargo bench --bench crypto`.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use chacha20poly1305::ChaCha20Poly1305;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lentil::crypto::{PacketKey, Protection};
use lentil::wire::{DataHeader, DATA_HEADER_LEN};
use zeroize::Zeroizing;

const SIZES: [usize; 2] = [64, 1400];

fn ciphers(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal_open");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let ad = [0u8; DATA_HEADER_LEN];
        let mut buf = vec![0x5au8; size - DATA_HEADER_LEN];
        let chacha = ChaCha20Poly1305::new(&[7u8; 32].into());
        g.bench_function(BenchmarkId::new("chacha20poly1305", size), |b| {
            let mut pn = 0u64;
            b.iter(|| {
                pn += 1;
                let mut n = [0u8; 12];
                n[4..].copy_from_slice(&pn.to_be_bytes());
                let nonce = chacha20poly1305::Nonce::from(n);
                let tag = chacha
                    .encrypt_in_place_detached(&nonce, &ad, &mut buf)
                    .unwrap();
                chacha
                    .decrypt_in_place_detached(&nonce, &ad, &mut buf, &tag)
                    .unwrap();
            })
        });
        let aes = Aes256Gcm::new(&[7u8; 32].into());
        g.bench_function(BenchmarkId::new("aes256gcm", size), |b| {
            let mut pn = 0u64;
            b.iter(|| {
                pn += 1;
                let mut n = [0u8; 12];
                n[4..].copy_from_slice(&pn.to_be_bytes());
                let nonce = Nonce::from(n);
                let tag = aes
                    .encrypt_in_place_detached(&nonce, &ad, &mut buf)
                    .unwrap();
                aes.decrypt_in_place_detached(&nonce, &ad, &mut buf, &tag)
                    .unwrap();
            })
        });
        let key = PacketKey::new(&[7; 32], &[1; 12]);
        g.bench_function(BenchmarkId::new("packet_key", size), |b| {
            let mut pn = 0u64;
            b.iter(|| {
                pn += 1;
                let tag = key.seal(pn, &ad, &mut buf);
                key.open(pn, &ad, &mut buf, &tag).unwrap();
            })
        });
    }
    g.finish();
}

fn protection(c: &mut Criterion) {
    let mut g = c.benchmark_group("protect_unprotect");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let a = Zeroizing::new([1u8; 32]);
        let b2 = Zeroizing::new([2u8; 32]);
        let mut tx = Protection::sealed(a.clone(), b2.clone());
        let mut rx = Protection::sealed(b2, a);
        let mut out = Vec::with_capacity(size + 16);
        let mut seq = 0u16;
        g.bench_function(BenchmarkId::new("sealed", size), |b| {
            b.iter(|| {
                out.clear();
                DataHeader {
                    token: 1,
                    seq,
                    ack: 0,
                    ack_bits: 0,
                }
                .emit(&mut out);
                out.resize(size - 16, 0x5a);
                seq = seq.wrapping_add(1);
                assert!(tx.protect(&mut out));
                rx.unprotect(&mut out).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, ciphers, protection);
criterion_main!(benches);
