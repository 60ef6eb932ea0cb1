/** JSON schemas of the REST routes (requests validated by fastify/ajv, responses serialized by fast-json-stringify). */

const rawValue = { type: ['string', 'number', 'null'] } as const;

const errorBody = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } },
} as const;

export const lookupSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ids: { type: 'array', items: { type: 'integer' } },
      features: {
        type: 'array',
        items: { type: 'object', additionalProperties: false, required: ['field'], properties: { field: { type: 'string' }, value: rawValue } },
      },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        d: { type: 'integer' },
        count: { type: 'integer' },
        embeddings: { type: 'array', items: { type: 'number' } },
        ids: { type: 'array', items: { type: 'integer' } },
        bits: { type: 'array', items: { type: 'integer' } },
        pruned: { type: 'array', items: { type: 'boolean' } },
        oov: { type: 'array', items: { type: 'boolean' } },
      },
    },
    '4xx': errorBody,
    '5xx': errorBody,
  },
} as const;

export const scoreSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    properties: {
      rows: { type: 'array', items: { type: 'object', additionalProperties: rawValue } },
      ids: { type: 'array', items: { type: 'array', items: { type: 'integer' } } },
      // Context + candidates / columnar forms (docs/api.md): field -> value once, rows of the other fields, or field -> values.
      context: { type: 'object', additionalProperties: rawValue },
      candidates: { type: 'array', items: { type: 'object', additionalProperties: rawValue } },
      columns: { type: 'object', additionalProperties: { type: 'array', items: rawValue } },
    },
  },
  response: {
    200: { type: 'object', properties: { probabilities: { type: 'array', items: { type: 'number' } }, modelVersion: { type: 'string' } } },
    '4xx': errorBody,
    '5xx': errorBody,
  },
} as const;

export const modelSchema = {
  response: {
    200: {
      type: 'object',
      properties: {
        version: { type: 'string' },
        fields: {
          type: 'array',
          items: { type: 'object', properties: { name: { type: 'string' }, kind: { type: 'string' }, transform: { type: 'string' }, oovId: { type: 'integer' } } },
        },
        d: { type: 'integer' },
        featureCount: { type: 'integer' },
        bitsHistogram: {
          type: 'array',
          items: { type: 'object', properties: { bits: { type: 'integer' }, features: { type: 'integer' }, bytes: { type: 'integer' } } },
        },
        sectionBytes: { type: 'array', items: { type: 'object', properties: { section: { type: 'string' }, bytes: { type: 'integer' } } } },
        compressionRatioWeights: { type: 'number' },
        compressionRatioAllIn: { type: 'number' },
        provider: { type: 'string' },
        limits: {
          type: 'object',
          properties: {
            maxRequestRows: { type: 'integer' },
            maxLookupFeatures: { type: 'integer' },
            maxMessageBytes: { type: 'integer' },
            maxBatchRows: { type: 'integer' },
            queueLimit: { type: 'integer' },
          },
        },
      },
    },
    '5xx': errorBody,
  },
} as const;

export const statusSchema = {
  response: {
    200: { type: 'object', properties: { status: { type: 'string' } } },
    '5xx': errorBody,
  },
} as const;
