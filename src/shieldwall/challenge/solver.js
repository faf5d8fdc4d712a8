/* shieldwall proof-of-work solver (ES5, no dependencies; runs in a page, a Worker or Node).
   swSolve(challenge, difficulty, start, count): the first n in [start, start+count) such that
   SHA-256(challenge + String(n)) has >= difficulty leading zero bits, or -1. SHA-256: FIPS 180-4.
   crypto.subtle is not used: it is missing on plain-HTTP origins and is asynchronous. */
var swK = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
];

function swSha256(bytes) {
  var H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
           0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  var len = bytes.length, bitLen = len * 8, nb = (len + 9 + 63) >> 6, end = nb * 64;
  var W = new Array(64), b, t, j, i, v, w;
  for (b = 0; b < nb; b++) {
    for (t = 0; t < 16; t++) {
      w = 0;
      for (j = 0; j < 4; j++) {
        i = b * 64 + t * 4 + j;
        if (i < len) { v = bytes[i]; }
        else if (i === len) { v = 0x80; }
        else if (i >= end - 4) { v = (bitLen >>> ((end - 1 - i) * 8)) & 0xff; }
        else { v = 0; }
        w = (w << 8) | v;
      }
      W[t] = w;
    }
    for (t = 16; t < 64; t++) {
      var x = W[t - 15], y = W[t - 2];
      var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
    }
    var a = H[0], c1 = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (t = 0; t < 64; t++) {
      var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      var t1 = (h + S1 + ((e & f) ^ (~e & g)) + swK[t] + W[t]) | 0;
      var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      var t2 = (S0 + ((a & c1) ^ (a & c) ^ (c1 & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = c1; c1 = a; a = (t1 + t2) | 0;
    }
    H[0] = (H[0] + a) | 0; H[1] = (H[1] + c1) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
    H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
  }
  return H;
}

function swZeroBits(H) {
  var n = 0, i, w;
  for (i = 0; i < 8; i++) {
    w = H[i] >>> 0;
    if (w === 0) { n += 32; continue; }
    while ((w & 0x80000000) === 0) { n++; w = (w << 1) >>> 0; }
    return n;
  }
  return n;
}

function swSolve(challenge, difficulty, start, count) {
  var prefix = [], i, n, s, bytes;
  for (i = 0; i < challenge.length; i++) { prefix.push(challenge.charCodeAt(i) & 0xff); }
  for (n = start; n < start + count; n++) {
    s = String(n);
    bytes = prefix.slice(0);
    for (i = 0; i < s.length; i++) { bytes.push(s.charCodeAt(i)); }
    if (swZeroBits(swSha256(bytes)) >= difficulty) { return n; }
  }
  return -1;
}
