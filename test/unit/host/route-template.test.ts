import { describe, expect, it } from 'vitest';
import {
  comparePrecedence,
  joinRoutePrefix,
  parseRouteTemplate,
  RouteTable,
  RouteTemplateError,
} from '../../../dev/host/route-template.js';

const match = (template: string, path: string) => parseRouteTemplate(template).match(path);

describe('route templates', () => {
  it('matches literal segments case-insensitively and ignores a trailing slash', () => {
    expect(
      match(
        'api/customers/{customerId}/batchJobStatus/{trackingId}',
        '/API/Customers/c1/BATCHJOBSTATUS/t-2/',
      ),
    ).toEqual({ customerId: 'c1', trackingId: 't-2' });
    expect(match('api/health', '/api/health/extra')).toBeUndefined();
    expect(match('api/health', '/api')).toBeUndefined();
    expect(match('api/health', '/api//health')).toBeUndefined();
  });

  it('URL-decodes parameter values but keeps their case', () => {
    expect(match('api/items/{name}', '/api/items/Hello%20W%C3%B6rld%2F1')).toEqual({ name: 'Hello Wörld/1' });
    expect(match('api/items/{name}', '/api/items/%E0%A4%A')).toEqual({ name: '%E0%A4%A' });
  });

  it('supports optional parameters, defaults and catch-alls', () => {
    expect(match('api/list/{page?}', '/api/list')).toEqual({});
    expect(match('api/list/{page?}', '/api/list/3')).toEqual({ page: '3' });
    expect(match('api/list/{page=1}', '/api/list')).toEqual({ page: '1' });
    expect(match('api/files/{*path}', '/api/files/a/b%20c/d.txt')).toEqual({ path: 'a/b c/d.txt' });
    expect(match('api/files/{*path}', '/api/files')).toEqual({});
    expect(match('api/files/{**path}', '/api/files/x')).toEqual({ path: 'x' });
  });

  it.each([
    ['{id:int}', '42', true],
    ['{id:int}', '-7', true],
    ['{id:int}', '2147483648', false],
    ['{id:int}', '4x', false],
    ['{id:long}', '2147483648', true],
    ['{id:long}', '9223372036854775808', false],
    ['{id:guid}', '8c1f0e2a-5b7d-4e61-9a3c-2f4b6d8e0a1c', true],
    ['{id:guid}', '8C1F0E2A5B7D4E619A3C2F4B6D8E0A1C', true],
    ['{id:guid}', '{8c1f0e2a-5b7d-4e61-9a3c-2f4b6d8e0a1c}', true],
    ['{id:guid}', '8c1f0e2a-5b7d-4e61-9a3c', false],
    ['{x:alpha}', 'abcXYZ', true],
    ['{x:alpha}', 'abc1', false],
    ['{x:bool}', 'TRUE', true],
    ['{x:bool}', 'yes', false],
    ['{x:double}', '1.5e3', true],
    ['{x:decimal}', '1.5e3', false],
    ['{x:datetime}', '2026-11-26', true],
    ['{x:datetime}', 'tomorrow', false],
    ['{n:int:min(1)}', '0', false],
    ['{n:int:min(1)}', '1', true],
    ['{n:max(10)}', '11', false],
    ['{n:range(1,3)}', '3', true],
    ['{n:range(1,3)}', '4', false],
    ['{s:length(2)}', 'ab', true],
    ['{s:length(2,3)}', 'abcd', false],
    ['{s:minlength(2)}', 'a', false],
    ['{s:maxlength(2)}', 'abc', false],
    ['{s:regex(^[a-c]+$)}', 'ABC', true],
    ['{s:regex(^[a-c]+$)}', 'abd', false],
  ])('constraint %s on %s → %s', (parameter, value, expected) => {
    expect(match(`api/${parameter}`, `/api/${value}`) !== undefined).toBe(expected);
  });

  it('splits complex segments right to left, like ASP.NET', () => {
    expect(match('api/files/{name}.{ext}', '/api/files/archive.tar.gz')).toEqual({
      name: 'archive.tar',
      ext: 'gz',
    });
    expect(match('api/files/{name}.{ext}', '/api/files/noextension')).toBeUndefined();
    expect(match('api/v{version:int}/items', '/api/V2/items')).toEqual({ version: '2' });
  });

  it.each([
    ['api/{id:unknown}', /unknown constraint 'unknown'/],
    ['api/{*rest}/more', /catch-all parameter must be the last segment/],
    ['api/{id}/{ID}', /parameter 'ID' twice/],
    ['api/{id', /Unbalanced/],
    ['api/id}', /Unbalanced/],
    ['api/{a?}/b', /only optional or default parameters may follow/],
    ['api/{a}{b}', /need a literal between them/],
    ['api/{file}.{ext?}', /cannot share a segment/],
    ['api/{n:min(x)}', /needs integer arguments/],
  ])('rejects %s', (template, message) => {
    expect(() => parseRouteTemplate(template)).toThrow(RouteTemplateError);
    expect(() => parseRouteTemplate(template)).toThrow(message);
  });

  it('joins the route prefix, which may be empty', () => {
    expect(joinRoutePrefix('api', 'health')).toBe('api/health');
    expect(joinRoutePrefix('/api/', '/health')).toBe('api/health');
    expect(joinRoutePrefix('', 'health')).toBe('health');
    expect(joinRoutePrefix('api', '')).toBe('api');
  });

  it('orders literal before constrained before plain parameters before catch-alls', () => {
    const templates = ['api/{*rest}', 'api/{name}', 'api/{id:int}', 'api/special'].map(parseRouteTemplate);
    const sorted = [...templates].sort(comparePrecedence).map((t) => t.template);
    expect(sorted).toEqual(['api/special', 'api/{id:int}', 'api/{name}', 'api/{*rest}']);
  });
});

describe('RouteTable', () => {
  const table = new RouteTable<string>();
  table.add('api/items/{name}', ['GET'], 'byName');
  table.add('api/items/{id:int}', ['GET'], 'byId');
  table.add('api/items', ['GET'], 'list');
  table.add('api/items', ['POST'], 'create');
  table.add('api/items/{other}', ['GET'], 'shadowed');
  table.add('api/any', [], 'any');

  it('picks the most specific route, then the first registered among equals', () => {
    expect(table.match('GET', '/api/items/5')).toEqual({
      kind: 'matched',
      target: 'byId',
      params: { id: '5' },
    });
    expect(table.match('get', '/api/items/five')).toMatchObject({ kind: 'matched', target: 'byName' });
  });

  it('chooses among functions sharing a template by method', () => {
    expect(table.match('POST', '/api/items')).toMatchObject({ target: 'create' });
    expect(table.match('GET', '/api/items')).toMatchObject({ target: 'list' });
  });

  it('reports the allowed methods for a known path and method, and not found otherwise', () => {
    const result = table.match('DELETE', '/api/items');
    expect(result.kind).toBe('methodNotAllowed');
    expect(result.kind === 'methodNotAllowed' && result.allowed.sort()).toEqual(['GET', 'POST']);
    expect(table.match('GET', '/api/nothing')).toEqual({ kind: 'notFound' });
  });

  it('lets an empty method list accept every method', () => {
    expect(table.match('PATCH', '/api/any')).toMatchObject({ kind: 'matched', target: 'any' });
  });
});
