// Jest 30 with its jsdom environment, CommonJS as Jest runs by default: no transform, no setup
// file, no moduleNameMapper for the wasm. `require('resource-guard')` takes the package's
// CommonJS entry, which reads the wasm next to it.
module.exports = { testEnvironment: 'jsdom', testMatch: ['<rootDir>/*.spec.cjs'] };
